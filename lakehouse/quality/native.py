"""A table's suite evaluated with the engine alone, in one aggregation, as Great Expectations would.

Great Expectations takes 2.5-3.5 s to import in every process, and its Spark execution engine asks
one query per metric. The suites of the tables use a handful of expectation kinds (`KINDS`); for
those, every outcome comes from one query over the staged frame: the rows grouped by the key (what
the key checks need), each group's partial counts and minimums, then the groups added up. A suite
with any other kind, or with an option or a column type not handled here, goes through Great
Expectations (`evaluable` says which).

The outcomes are Great Expectations' own, field for field: a suite whose expectations all pass
gives each result with nothing but its success (the `BOOLEAN_ONLY` format the gate asks for first);
otherwise every result is given in the `SUMMARY` format (counts, percentages, observed values, up to
three unexpected values, which a second query fetches only then). Reference: great_expectations
1.x, `expectations/expectation.py` (`ColumnMapExpectation._validate`, `_format_map_output`,
`_validate_metric_value_between`, `_mostly_success`), `expect_column_values_to_not_be_null.py`,
the Spark condition of each `column_map_metrics` module, and `util.convert_to_json_serializable`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, NumericType, StringType

from lakehouse.quality.checks import CheckResult
from lakehouse.quality.suites import Expect, Tagged

EXAMPLES = 3  # unexpected values kept per result, as `partial_unexpected_count` asks of Great Expectations
MAP = ("ExpectColumnValuesToBeBetween", "ExpectColumnValuesToBeInSet", "ExpectColumnValuesToNotBeNull")
# kind -> the options it may have here (anything else, e.g. a row condition, goes through Great Expectations)
OPTIONS: Mapping[str, frozenset[str]] = {
    "ExpectKeyColumnToNotBeNull": frozenset({"column_list", "column"}),
    "ExpectKeyToBeUnique": frozenset({"column_list"}),
    "ExpectColumnMinToBeBetween": frozenset({"column", "min_value", "max_value", "strict_min", "strict_max"}),
    "ExpectColumnValuesToBeBetween": frozenset({"column", "min_value", "max_value", "strict_min", "strict_max",
                                                 "mostly"}),
    "ExpectColumnValuesToBeInSet": frozenset({"column", "value_set", "mostly"}),
    "ExpectColumnValuesToNotBeNull": frozenset({"column", "mostly"}),
}
KINDS = frozenset(OPTIONS)


@dataclass(frozen=True)
class Outcome:
    """One expectation's result: Great Expectations' `success` and `result` dictionary."""

    check: Tagged
    success: bool
    result: Mapping[str, Any]

    def to_check(self, table: str) -> CheckResult:
        """As `lakehouse.quality.expectations` turns a Great Expectations result into a CheckResult."""
        observed = self.result.get("observed_value")
        examples = tuple(json.dumps(v, default=str) for v in (self.result.get("partial_unexpected_list") or [])[:3])
        return CheckResult(table, self.check.name, self.check.severity, self.success,
                           None if observed is None else str(observed), int(self.result.get("unexpected_count") or 0),
                           examples)


def _number(value: Any) -> bool:
    return isinstance(value, Real | decimal.Decimal) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))


def _options_fit(kind: str, options: Mapping[str, Any]) -> bool:
    """Whether the options are ones handled here, with the types handled here."""
    if not set(options) <= OPTIONS[kind] or ("column" not in options and kind != "ExpectKeyToBeUnique"):
        return False
    if "column" in options and not isinstance(options["column"], str):
        return False
    if "column_list" in options and not (isinstance(options["column_list"], list | tuple)
                                         and all(isinstance(c, str) for c in options["column_list"])):
        return False
    if not all(isinstance(options.get(k, False), bool) for k in ("strict_min", "strict_max")):
        return False
    if "mostly" in options and not (_number(options["mostly"]) and 0 <= options["mostly"] <= 1):
        return False
    low, high = options.get("min_value"), options.get("max_value")
    if not all(v is None or _number(v) for v in (low, high)):
        return False
    if kind == "ExpectColumnValuesToBeBetween" and (low is None and high is None or (
            low is not None and high is not None and low > high)):
        return False  # Great Expectations raises: its error is its own to give
    if kind == "ExpectColumnValuesToBeInSet":
        values = options.get("value_set")
        return isinstance(values, list | tuple) and all(isinstance(v, str) or _number(v) for v in values)
    return True


def declared(check: Tagged) -> bool:
    """Whether `check` could be evaluated here, from its declaration alone (no frame yet)."""
    found = check.expectation
    return isinstance(found, Expect) and found.kind in KINDS and _options_fit(found.kind, found.options)


def _column_fits(check: Tagged, types: Mapping[str, DataType]) -> bool:
    expectation = check.expectation
    assert isinstance(expectation, Expect)
    columns = [*expectation.options.get("column_list", ()), *([expectation.options["column"]]
                                                              if "column" in expectation.options else [])]
    if not all(c in types for c in columns):
        return False  # Great Expectations names the missing column in its own error
    if expectation.kind in ("ExpectColumnMinToBeBetween", "ExpectColumnValuesToBeBetween"):
        return isinstance(types[expectation.options["column"]], NumericType)
    if expectation.kind == "ExpectColumnValuesToBeInSet":
        values, kind = expectation.options["value_set"], types[expectation.options["column"]]
        text = all(isinstance(v, str) for v in values)
        return isinstance(kind, StringType) if text else isinstance(kind, NumericType) and not any(
            isinstance(v, str) for v in values)
    return True


def evaluable(checks: Sequence[Tagged], frame: DataFrame) -> bool:
    """Whether every check of the suite is evaluated here on `frame` (else the suite goes through
    Great Expectations): known kinds and options, columns that exist with types handled here, one key."""
    if not all(declared(c) for c in checks):
        return False
    types = {f.name: f.dataType for f in frame.schema.fields}
    keys = {tuple(c.expectation.options["column_list"]) for c in checks  # type: ignore[union-attr]
            if c.expectation.kind.startswith("ExpectKey")}  # type: ignore[union-attr]
    return len(keys) <= 1 and all(_column_fits(c, types) for c in checks)


def quoted(column: str) -> Column:
    """The column named `column`, whatever its characters (a dot, a space, a backtick)."""
    return F.col("`" + column.replace("`", "``") + "`")


def _condition(expectation: Expect) -> Column:
    """What a value should satisfy (Great Expectations' Spark condition of the kind's map metric)."""
    options, column = expectation.options, quoted(expectation.options["column"])
    if expectation.kind == "ExpectColumnValuesToNotBeNull":
        return column.isNotNull()
    if expectation.kind == "ExpectColumnValuesToBeInSet":
        return column.isin(list(options["value_set"]))
    low, high = options.get("min_value"), options.get("max_value")
    above, below = F.lit(True), F.lit(True)
    if low is not None:  # Great Expectations holds the bounds as floats
        above = (column > F.lit(float(low))) if options.get("strict_min") else (column >= F.lit(float(low)))
    if high is not None:
        below = (column < F.lit(float(high))) if options.get("strict_max") else (column <= F.lit(float(high)))
    if low is None or high is None:
        return above if high is None else below
    return above & below


def unexpected(expectation: Expect) -> Column:
    """The rows counted as unexpected: nulls are ignored but by the not-null check, which counts them."""
    if expectation.kind == "ExpectColumnValuesToNotBeNull":
        return quoted(expectation.options["column"]).isNull()
    return quoted(expectation.options["column"]).isNotNull() & ~_condition(expectation)


def _kinds(checks: Sequence[Tagged]) -> list[Expect]:
    return [c.expectation for c in checks]  # type: ignore[misc]


def profile(checks: Sequence[Tagged], frame: DataFrame) -> dict[str, Any]:
    """Every count and minimum the suite needs, in one query: rows grouped by the key, then added up."""
    expectations = _kinds(checks)
    keys = next((list(e.options["column_list"]) for e in expectations if e.kind.startswith("ExpectKey")), [])
    per_group = [F.count(F.lit(1)).alias("rows")]
    for i, e in enumerate(expectations):
        if e.kind in MAP:
            per_group += [F.count(F.when(unexpected(e), 1)).alias(f"u{i}"),
                          F.count(quoted(e.options["column"])).alias(f"n{i}")]
        elif e.kind == "ExpectColumnMinToBeBetween":
            per_group.append(F.min(quoted(e.options["column"])).alias(f"m{i}"))
    groups = frame.groupBy(*[quoted(k).alias(f"k{j}") for j, k in enumerate(keys)]).agg(*per_group)
    totals = [F.sum("rows").alias("rows"), F.sum(F.when(F.col("rows") > 1, F.col("rows"))).alias("shared")]
    totals += [F.sum(F.when(F.col(f"k{j}").isNull(), F.col("rows"))).alias(f"null{j}") for j in range(len(keys))]
    for name in groups.columns[len(keys) + 1:]:
        totals.append((F.min(name) if name.startswith("m") else F.sum(name)).alias(name))
    found = groups.agg(*totals).first()
    values = found.asDict() if found else {}
    return {k: v if k.startswith("m") else int(v or 0) for k, v in values.items()} | {"keys": keys}


def _key_examples(frame: DataFrame, keys: list[str]) -> list[dict[str, Any]]:
    """Up to three keys that rows share (as the key profile of `lakehouse.quality.unique_key` gives them)."""
    groups = frame.groupBy(*[quoted(k) for k in keys]).agg(F.count(F.lit(1)).alias("_rows"))
    shared = groups.where(F.col("_rows") > 1).select(*[quoted(k) for k in keys]).limit(EXAMPLES).collect()
    return [dict(zip(keys, r, strict=True)) for r in shared]


def _values(frame: DataFrame, expectation: Expect) -> list[Any]:
    """Up to three unexpected values of the column, as Great Expectations fetches them."""
    column = expectation.options["column"]
    rows = frame.where(unexpected(expectation)).select(quoted(column).alias("v")).limit(EXAMPLES).collect()
    return [r["v"] for r in rows]


def serialisable(value: Any) -> Any:
    """A collected value as Great Expectations' `convert_to_json_serializable` gives it."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return value


def _between(value: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """`_validate_metric_value_between` on a numeric minimum and numeric bounds."""
    if value is None:
        return {"success": False, "result": {"observed_value": None}}
    low, high = options.get("min_value"), options.get("max_value")
    low, high = None if low is None else float(low), None if high is None else float(high)
    above = low is None or (value > low if options.get("strict_min") else value >= low)
    below = high is None or (value < high if options.get("strict_max") else value <= high)
    return {"success": bool(above and below), "result": {"observed_value": value}}


def _map_result(kind: str, total: int, nulls: int, unexpected_count: int, values: list[Any] | None) -> dict[str, Any]:
    """`ColumnMapExpectation._validate` then `_format_map_output` in the SUMMARY format (the
    not-null check counts nulls among all rows, so its result has no missing counts)."""
    skip_missing = kind == "ExpectColumnValuesToNotBeNull"
    nonnull = total - nulls
    percent_total = percent_nonmissing = missing_percent = None
    if total > 0:
        percent_total = unexpected_count / total * 100
        if skip_missing:
            percent_nonmissing = percent_total
        else:
            missing_percent = nulls / total * 100
            percent_nonmissing = unexpected_count / nonnull * 100 if nonnull > 0 else None
    # the unexpected rows are summed: no rows, no sum
    result: dict[str, Any] = {"element_count": total, "unexpected_count": unexpected_count if total else None,
                              "unexpected_percent": percent_nonmissing}
    if values is not None:
        result["partial_unexpected_list"] = values[:EXAMPLES]
    if not skip_missing:
        result |= {"missing_count": nulls, "missing_percent": missing_percent,
                   "unexpected_percent_total": percent_total, "unexpected_percent_nonmissing": percent_nonmissing}
    if values is not None:
        try:
            common = sorted(Counter(values).most_common(EXAMPLES), key=lambda x: (-x[1], x[0]))
            result["partial_unexpected_counts"] = [{"value": v, "count": n} for v, n in common]
        except TypeError:
            result["partial_unexpected_counts"] = [{"error": "partial_exception_counts requires a hashable type"}]
    return result


def _map_success(kind: str, total: int, nulls: int, unexpected_count: int, mostly: float) -> bool:
    """Vacuously true without rows (or, but for the not-null check, without non-null values)."""
    considered = total if kind == "ExpectColumnValuesToNotBeNull" else total - nulls
    if total == 0 or considered == 0:
        return True
    return (float(considered) - float(unexpected_count)) / float(considered) >= mostly


def _outcome(check: Tagged, i: int, found: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    """One check's success and SUMMARY result, from the profile (examples added later)."""
    e = check.expectation
    assert isinstance(e, Expect)
    total, keys = found["rows"], found["keys"]
    if e.kind == "ExpectKeyToBeUnique":
        shared = found["shared"]
        return shared == 0, {"observed_value": shared, "unexpected_count": shared, "partial_unexpected_list": []}
    if e.kind == "ExpectKeyColumnToNotBeNull":
        nulls = found[f"null{keys.index(e.options['column'])}"]
        return nulls == 0, {"observed_value": nulls, "unexpected_count": nulls}
    if e.kind == "ExpectColumnMinToBeBetween":
        judged = _between(serialisable(found[f"m{i}"]), e.options)
        return judged["success"], judged["result"]
    nulls, count = total - found[f"n{i}"], found[f"u{i}"]
    success = _map_success(e.kind, total, nulls, count, float(e.options.get("mostly", 1.0)))
    return success, _map_result(e.kind, total, nulls, count, None)


def evaluate(checks: Sequence[Tagged], frame: DataFrame) -> list[Outcome]:
    """Every check of an `evaluable` suite on `frame`, in order, as Great Expectations gives them."""
    found = profile(checks, frame)
    judged = [_outcome(c, i, found) for i, c in enumerate(checks)]
    if all(success for success, _ in judged):
        return [Outcome(c, True, {}) for c in checks]  # BOOLEAN_ONLY: the success alone
    outcomes = []
    for i, (check, (success, result)) in enumerate(zip(checks, judged, strict=True)):
        e = check.expectation
        assert isinstance(e, Expect)
        if e.kind == "ExpectKeyToBeUnique" and result["unexpected_count"]:
            result["partial_unexpected_list"] = _key_examples(frame, found["keys"])
        elif e.kind in MAP:
            values = _values(frame, e) if result["unexpected_count"] else []
            total = found["rows"]
            result = _map_result(e.kind, total, total - found[f"n{i}"], result["unexpected_count"], values)
        outcomes.append(Outcome(check, success, result))
    return outcomes


def great_expectations_needed(checks: Sequence[Tagged]) -> bool:
    """Whether a suite of these checks goes through Great Expectations, as far as its declaration
    tells (a column of a type not handled here is only known with the frame)."""
    return not all(declared(c) for c in checks)
