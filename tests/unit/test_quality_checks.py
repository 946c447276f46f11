"""Quality checks as functions: volume, freshness, source columns; key checks on every table."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.jobs import JOBS
from lakehouse.quality.gate import freshness_check, volume_check
from lakehouse.quality.source_schema import source_column_checks
from lakehouse.quality.suites import suite_for
from lakehouse.sources.app_contract import APP_TABLES


@pytest.mark.parametrize(
    ("rows", "trailing", "passed"),
    [(40, [100, 100, 90], False), (50, [100, 100, 90], True), (1, [], True), (51, [10, 100, 300], True)],
)
def test_volume_warns_below_half_the_trailing_median(rows: int, trailing: list[int], passed: bool) -> None:
    result = volume_check("t", rows, trailing, 0.5)
    assert (result.severity, result.passed, result.observed) == ("warn", passed, str(rows))


def test_freshness_compares_the_newest_record_with_the_reference() -> None:
    now = dt.datetime(2026, 3, 10, 12, 0)
    assert freshness_check("t", dt.datetime(2026, 3, 9, 13, 0), now, 24).passed
    stale = freshness_check("t", dt.datetime(2026, 3, 9, 11, 0), now, 24)
    assert (stale.passed, stale.observed) == (False, "25.0h old (newest 2026-03-09 11:00)")
    assert freshness_check("t", dt.date(2026, 3, 9), now, 12).passed  # a date counts to its end
    assert not freshness_check("t", None, now, 24).passed


def test_source_columns_changed_missing_and_new() -> None:
    table = APP_TABLES["order_items"]
    found = {c: "text" for c in table.columns} | {
        "order_id": "integer", "line_no": "integer", "product_id": "integer", "quantity": "text",
        "unit_price": "real", "discount": "real", "gift_wrap": "integer",
    }
    found.pop("updated_at")
    by_rule = {r.rule: r for r in source_column_checks("bronze.order_items", table, found)}
    assert by_rule["source_column_type_changed"].observed == "quantity: integer -> text"
    assert by_rule["source_column_missing"].observed == "updated_at"
    assert (by_rule["new_source_column"].severity, by_rule["new_source_column"].observed) == ("warn", "gift_wrap")
    assert [r.passed for r in by_rule.values()] == [False, False, False]


def test_timestamps_may_be_text_or_timestamp() -> None:
    table = APP_TABLES["erasure_requests"]
    results = source_column_checks("b", table, {"customer_id": "integer", "requested_at": "timestamp"})
    assert all(r.passed for r in results)


@pytest.mark.parametrize("job", [j for j in JOBS.values() if j.layer in ("silver", "gold")], ids=lambda j: j.name)
def test_every_silver_and_gold_table_has_critical_key_checks(job) -> None:  # noqa: ANN001
    rules = {e.meta["rule"]: e.meta["severity"] for e in suite_for(job.spec).expectations}
    assert rules["primary_key_unique"] == "critical"
    assert all(rules[f"{k}_not_null"] == "critical" for k in job.spec.key)


def test_declared_expectations_become_tagged_great_expectations_objects() -> None:
    import great_expectations.expectations as gxe

    from lakehouse.gold import daily_sales

    built = {e.meta["rule"]: e for e in suite_for(daily_sales.SPEC).expectations}
    revenue = built["revenue_negative"]
    assert isinstance(revenue, gxe.ExpectColumnMinToBeBetween)
    assert (revenue.column, revenue.min_value) == ("revenue_eur", 0)
    assert revenue.meta == {"severity": "critical", "rule": "revenue_negative", "examples_where": "revenue_eur < 0"}
    # built afresh for every suite: an expectation belongs to one suite
    assert suite_for(daily_sales.SPEC).expectations[-1] is not revenue


def test_an_unknown_expectation_is_named_in_the_error() -> None:
    from lakehouse.quality.suites import critical, expect
    from lakehouse.tables import TableSpec

    green = critical(expect("ExpectColumnToBeGreen", column="k"))
    spec = TableSpec(name="gold.t", key=("k",), comments={"k": "the key"}, expectations=(green,))
    with pytest.raises(ValueError, match="unknown expectation 'ExpectColumnToBeGreen'"):
        suite_for(spec)


def test_the_job_catalog_imports_no_great_expectations_until_a_suite_is_built() -> None:
    """Great Expectations takes seconds to import: a run that fails early (a busy lake, an unknown
    job) fails at once."""
    import subprocess
    import sys

    probe = (
        "import sys, lakehouse.pipeline, lakehouse.cli\n"
        "assert 'great_expectations' not in sys.modules, 'imported with the job catalog'\n"
        "from lakehouse.jobs import JOBS\n"
        "from lakehouse.quality.suites import suite_for\n"
        "suite_for(JOBS['gold_daily_sales'].spec)\n"
        "assert 'great_expectations' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
