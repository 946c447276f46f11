"""Quality checks as functions: volume, freshness, source columns; key checks on every table."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.jobs import JOBS
from lakehouse.quality.gate import freshness_check, volume_check
from lakehouse.quality.source_schema import source_column_checks
from lakehouse.quality.suites import suite_for
from lakehouse.sources.app_db import APP_TABLES


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
    module = job.module
    rules = {e.meta["rule"]: e.meta["severity"] for e in suite_for(module).expectations}
    assert rules["primary_key_unique"] == "critical"
    assert all(rules[f"{k}_not_null"] == "critical" for k in module.KEY)
