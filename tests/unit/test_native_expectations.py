"""Suites evaluated without Great Expectations give what Great Expectations gives, on the same frame.

Every case runs the suite twice on one frame: through Great Expectations (`ExpectationRunner`, the
oracle) and through `lakehouse.quality.native`; the check results (success, observed value,
unexpected count, examples) and each result dictionary must be equal. The frames are built to hit
the edges: nulls, an all-null column, an empty frame, shared keys with nulls in them, values at
strict and inclusive bounds, `mostly`, values outside a set, decimals, dates and timestamps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lakehouse.quality import filing, native
from lakehouse.quality.suites import Tagged, critical, expect, key_checks, warn

D = Decimal
DAY = dt.date(2026, 3, 1)
TS = dt.datetime(2026, 3, 1, 10, 0)
SCHEMA = "k long, day date, ts timestamp, amount decimal(18,2), p double, s string, n long"


def _rows(*rows: tuple) -> list[tuple]:
    return list(rows)


BETWEEN = "ExpectColumnValuesToBeBetween"
MIN = "ExpectColumnMinToBeBetween"
IN_SET = "ExpectColumnValuesToBeInSet"
NOT_NULL = "ExpectColumnValuesToNotBeNull"

# name -> (rows, key, declared expectations)
# one expectation of each natively evaluated kind, for frames without values to test them on
EACH_KIND_ONCE = [critical(expect(MIN, column="amount", min_value=0)),
                  critical(expect(BETWEEN, column="p", min_value=0, max_value=1)),
                  critical(expect(IN_SET, column="s", value_set=["a"])),
                  critical(expect(NOT_NULL, column="n"))]
CASES: dict[str, tuple[list[tuple], list[str], list[Tagged]]] = {
    "all-pass": (
        _rows((1, DAY, TS, D("0.00"), 0.0, "a", 1), (2, DAY, TS, D("1.50"), 1.0, "b", None)),
        ["k"],
        [critical(expect(MIN, column="amount", min_value=0), "revenue_negative", "amount < 0"),
         critical(expect(BETWEEN, column="p", min_value=0, max_value=1)),
         critical(expect(IN_SET, column="s", value_set=["a", "b"])),
         warn(expect(NOT_NULL, column="s"))],
    ),
    "nulls-and-misses": (
        _rows((1, DAY, TS, D("1.50"), 0.5, "a", 1), (2, DAY, TS, None, None, "b", 2),
              (3, DAY, TS, D("-1.00"), 1.5, None, 3), (4, DAY, TS, D("-0.01"), -0.5, "z", 4)),
        ["k"],
        [critical(expect(MIN, column="amount", min_value=0)),
         critical(expect(BETWEEN, column="p", min_value=0, max_value=1)),
         critical(expect(IN_SET, column="s", value_set=["a", "b"])),
         warn(expect(NOT_NULL, column="amount")),
         critical(expect(NOT_NULL, column="p", mostly=0.7))],
    ),
    "bounds-strict-and-inclusive": (
        _rows((1, DAY, TS, D("0.00"), 0.0, "a", 0), (2, DAY, TS, D("1.00"), 1.0, "a", 10),
              (3, DAY, TS, D("0.50"), 0.5, "a", 5)),
        ["k"],
        [critical(expect(BETWEEN, column="p", min_value=0, max_value=1, strict_min=True)),
         critical(expect(BETWEEN, column="p", min_value=0, max_value=1, strict_max=True)),
         critical(expect(BETWEEN, column="p", min_value=0, max_value=1)),
         critical(expect(BETWEEN, column="amount", min_value=D("0.5"), strict_min=True)),
         critical(expect(BETWEEN, column="n", max_value=5)),
         critical(expect(BETWEEN, column="n", max_value=5, strict_max=True, mostly=0.3)),
         critical(expect(MIN, column="amount", min_value=0, strict_min=True)),
         critical(expect(MIN, column="n", min_value=0, max_value=0)),
         critical(expect(MIN, column="p", max_value=0, strict_max=True)),
         critical(expect(MIN, column="amount"))],
    ),
    "mostly": (
        _rows(*[(i, DAY, TS, D(i), float(i), "a" if i < 8 else "x", i) for i in range(10)]),
        ["k"],
        [critical(expect(BETWEEN, column="n", min_value=0, max_value=7, mostly=0.8)),
         critical(expect(BETWEEN, column="n", min_value=0, max_value=7, mostly=0.81)),
         critical(expect(IN_SET, column="s", value_set=["a"], mostly=0.8)),
         critical(expect(IN_SET, column="s", value_set=[], mostly=0)),
         critical(expect(IN_SET, column="n", value_set=[1, 2, 3])),
         warn(expect(NOT_NULL, column="s", mostly=1))],
    ),
    "all-null-column": (
        _rows((1, DAY, TS, None, None, None, None), (2, DAY, TS, None, None, None, None)),
        ["k"],
        EACH_KIND_ONCE,
    ),
    "empty-frame": (
        [],
        ["k"],
        EACH_KIND_ONCE,
    ),
    "compound-key-shared-with-nulls": (
        _rows((1, DAY, TS, D("1"), 0.1, "a", 1), (1, DAY, TS, D("1"), 0.1, "a", 2),
              (1, None, TS, D("1"), 0.1, "a", 3), (1, None, TS, D("1"), 0.1, "a", 4),
              (None, DAY, None, D("1"), 0.1, "a", 5), (2, DAY, TS, D("1"), 0.1, "a", 6)),
        ["k", "day", "ts"],
        [critical(expect(NOT_NULL, column="s"))],
    ),
    "timestamp-key-unique-decimal-min-fails": (
        _rows((1, DAY, TS, D("-5.00"), 0.1, "a", 1), (1, DAY, TS + dt.timedelta(seconds=1), D("3.25"), 0.1, "a", 1)),
        ["k", "ts"],
        [critical(expect(MIN, column="amount", min_value=0), "revenue_negative", "amount < 0")],
    ),
}


def _oracle(spark, tmp_path: Path, checks: list[Tagged], frame) -> tuple[list, list[dict[str, Any]]]:  # noqa: ANN001
    """Great Expectations' check results and result dictionaries (of its last, deciding run)."""
    import great_expectations as gx

    from lakehouse.quality.expectations import ExpectationRunner

    runner = ExpectationRunner(tmp_path / "q")
    suite = gx.ExpectationSuite(name="t.cases", expectations=[c.build() for c in checks])
    results = runner.validate(suite, frame, "run-1")
    store = runner.memory.validation_results_store
    last = max(store.list_keys(), key=lambda k: k.run_id.run_time)
    return results, [dict(r.result) for r in store.get(last).results]


def _sorted(value: Any) -> Any:
    """Keys and lists of examples in one order: which rows come first is the engine's choice."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return sorted((_sorted(v) for v in value), key=repr)
    return value


@pytest.mark.parametrize("case", list(CASES))
def test_native_outcomes_are_those_of_great_expectations(spark, tmp_path: Path, case: str) -> None:
    rows, key, declared = CASES[case]
    frame = spark.createDataFrame(rows, SCHEMA)
    checks = key_checks(key) + declared
    expected, expected_results = _oracle(spark, tmp_path, checks, frame)

    assert native.evaluable(checks, frame)
    outcomes = native.evaluate(checks, frame)
    got = [o.to_check("t.cases") for o in outcomes]

    def compared(results: list, dictionaries: list[dict]) -> list[str]:  # Great Expectations reorders results
        return sorted(repr((replace(r, examples=()), sorted(r.examples), _sorted(d)))
                      for r, d in zip(results, dictionaries, strict=True))

    # the result dictionaries as filed: what JSON cannot hold written as Great Expectations files it
    assert compared(got, [filing.plain(o.result) for o in outcomes]) == compared(expected, expected_results)


@pytest.mark.parametrize(
    "check",
    [critical(expect("ExpectColumnValuesToMatchRegex", column="s", regex="^a")),  # another kind
     critical(expect(NOT_NULL, column="s", row_condition='s == "a"')),  # an option not handled here
     critical(expect(BETWEEN, column="s", min_value=0, max_value=1)),  # text against numbers
     critical(expect(BETWEEN, column="day", min_value="2026-01-01", max_value="2026-12-31")),  # dates as text
     critical(expect(IN_SET, column="n", value_set=["1"])),  # text against a number column
     critical(expect(NOT_NULL, column="missing")),  # a column the frame lacks
     critical(expect(BETWEEN, column="p", min_value=1, max_value=0)),  # an error Great Expectations gives
     critical(expect(BETWEEN, column="p", min_value=True))],
    ids=["kind", "row-condition", "text-column", "date-bounds", "set-types", "missing-column", "min-above-max",
         "bool-bound"],
)
def test_what_is_not_handled_natively_is_left_to_great_expectations(spark, check: Tagged) -> None:
    frame = spark.createDataFrame([], SCHEMA)
    assert not native.evaluable([*key_checks(["k"]), check], frame)
    assert native.evaluable(key_checks(["k"]), frame)


def test_odd_column_names_are_quoted(spark) -> None:
    """A dot, a space, a backtick: names Great Expectations' own Spark path does not quote either."""
    frame = spark.createDataFrame([(1, None, 2.0), (1, "x", -1.0)], "`my.key` long, `a b` string, `c``d` double")
    checks = [*key_checks(["my.key"]), critical(expect(NOT_NULL, column="a b")),
              critical(expect(BETWEEN, column="c`d", min_value=0))]
    got = {r.rule: r for r in (o.to_check("t") for o in native.evaluate(checks, frame))}
    assert (got["primary_key_unique"].failing_count, got["expect_column_values_to_not_be_null"].failing_count) == (2, 1)
    assert got["expect_column_values_to_be_between"].examples == ("-1.0",)
    assert got["primary_key_unique"].examples == ('{"my.key": 1}',)
