"""Quality gates on real tables: critical checks block writes, rejects keep rows, warnings are
recorded, re-admission works once. Each test breaks a private copy of the built world on purpose;
expected counts come from the sources or the tables as they were, never from the gate."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.config import Config
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
runner = CliRunner()


def _lake(spark, config: Config) -> Lake:
    lake = Lake(spark, config.lake_dir)
    lake.register_all()
    return lake


def _cli(config: Config, *args: str):
    base = ["--env", "test", "--engine", config.engine.kind, "--data-dir", str(config.data_dir)]
    return runner.invoke(app, [*base, *args], env={"COLUMNS": "200"})


def _dq(lake: Lake, table: str, rule: str) -> list[dict]:
    rows = lake.read("ops.dq_results").where((F.col("table") == table) & (F.col("rule") == rule))
    return [r.asDict() for r in rows.orderBy("checked_at").collect()]


def _app_db(config: Config) -> sqlite3.Connection:
    return sqlite3.connect(config.sources_dir / "app.db")


def test_a_missing_fx_rate_blocks_order_lines_and_gold(spark, world_copy: Config) -> None:
    lake = _lake(spark, world_copy)
    lines = lake.read("silver.order_lines")
    day, currency = lines.where(F.col("currency") != "EUR").select("order_date", "currency").first()
    expected_failing = lines.where((F.col("order_date") == day) & (F.col("currency") == currency)).count()
    before = {t: lake.version(t) for t in ("silver.order_lines", "gold.daily_sales")}
    spark.sql(f"DELETE FROM delta.`{lake.path('bronze.fx_rates')}` WHERE date = '{day}' AND currency = '{currency}'")

    result = _cli(world_copy, "run", "silver", "gold")

    assert result.exit_code == 1, result.output
    assert "silver.order_lines" in result.output and "fx_rate_missing" in result.output
    assert f"{expected_failing:,} row(s)" in result.output
    assert f'"order_date": "{day}"' in result.output  # an example row
    assert {t: lake.version(t) for t in before} == before  # nothing written
    blocked = lake.read("ops.job_runs").where(F.col("job") == "gold_daily_sales").orderBy(F.desc("started_at"))
    assert blocked.first()["status"] == "blocked"
    [record] = [r for r in _dq(lake, "silver.order_lines", "fx_rate_missing") if not r["passed"]]
    assert (record["severity"], record["failing_count"]) == ("critical", expected_failing)
    assert record["delta_version"] == before["silver.order_lines"]
    # the failed run's outcomes are filed for Data Docs too (the newest pending file is this run's)
    from lakehouse.quality.site import pending

    filed = json.loads(pending(world_copy.data_dir / "quality")[-1].read_text())
    [lines] = [suite for suite in filed["suites"] if suite["suite"] == "silver.order_lines"]
    assert {c["rule"]: c["success"] for c in lines["checks"]}["fx_rate_missing"] is False


def test_a_source_column_changing_type_is_critical(spark, world_copy: Config) -> None:
    lake = _lake(spark, world_copy)
    before = lake.version("bronze.orders")
    with _app_db(world_copy) as db:
        db.execute("UPDATE orders SET customer_id = 'C-17', updated_at = '2099-01-01 00:00:00' WHERE order_id = "
                   "(SELECT min(order_id) FROM orders)")

    summary = run_jobs(world_copy, lake, select_jobs(["bronze_app_db", "silver_orders"]))

    statuses = {r.job: r.status for r in summary.reports}
    assert statuses == {"bronze_app_db": "failed", "silver_orders": "blocked"}
    assert "source_column_type_changed" in summary.reports[0].error and "'C-17'" in summary.reports[0].error
    assert lake.version("bronze.orders") == before
    assert not _dq(lake, "bronze.orders", "source_column_type_changed")[-1]["passed"]


def test_a_new_source_column_warns_and_bronze_keeps_it(spark, world_copy: Config) -> None:
    lake = _lake(spark, world_copy)
    with _app_db(world_copy) as db:
        db.execute("ALTER TABLE customers ADD COLUMN loyalty_tier TEXT")
        customer = db.execute("SELECT min(customer_id) FROM customers").fetchone()[0]
        db.execute("UPDATE customers SET loyalty_tier = 'gold', updated_at = '2099-01-01 00:00:00' "
                   "WHERE customer_id = ?", (customer,))

    summary = run_jobs(world_copy, lake, select_jobs(["bronze_app_db", "silver_customers"]))

    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    warning = _dq(lake, "bronze.customers", "new_source_column")[-1]
    assert (warning["passed"], warning["observed_value"]) == (False, "loyalty_tier")
    assert any("new_source_column" in w for r in summary.reports for w in r.outcome.warnings)
    kept = lake.read("bronze.customers").where(F.col("customer_id") == customer).select("loyalty_tier").collect()
    assert "gold" in [r[0] for r in kept]


def _landing_file(config: Config, name: str, records: list[dict]) -> None:
    folder = config.sources_dir / "telemetry" / "date=2026-04-30"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))


def test_rejected_rows_are_kept_with_rule_and_batch_and_stay_out_of_gold(spark, world_copy: Config) -> None:
    lake = _lake(spark, world_copy)
    device = "dq-probe-01"
    reading = {"device_id": device, "humidity": 50.0, "battery_pct": 80.0, "temperature_c": 4.0}
    _landing_file(world_copy, "probe.jsonl", [
        {**reading, "seq": 1, "ts": "2026-04-30T10:00:00Z"},
        {**reading, "seq": 2, "ts": "2026-04-30T10:05:00Z", "temperature_c": 75.0},
        {**reading, "seq": 3, "ts": "2026-04-30T10:10:00Z", "battery_pct": 150.0},
    ])

    summary = run_jobs(world_copy, lake, select_jobs(["bronze_telemetry", "silver_telemetry", "gold_cold_chain_daily"]))

    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    rejects = lake.read("silver.rejects").where(F.col("row_json").contains(device)).collect()
    got = sorted((r["rule"], json.loads(r["row_json"])["seq"]) for r in rejects)
    assert got == [("battery_out_of_range", 3), ("temperature_out_of_range", 2)]
    assert {r["batch_id"] for r in rejects} == {summary.run_id}
    gold = lake.read("gold.cold_chain_daily").where(F.col("device_id") == device).collect()
    assert [(r["readings"], r["max_temp_c"]) for r in gold] == [(1, 4.0)]


def _revenue(lake: Lake, day: str) -> Decimal:
    return lake.read("gold.daily_sales").where(F.col("order_date") == day).agg(F.sum("revenue_eur")).first()[0]


def test_readmission_admits_fixed_rows_once(spark, world_copy: Config) -> None:
    lake = _lake(spark, world_copy)
    with _app_db(world_copy) as db:
        order_id, day = db.execute("SELECT order_id, substr(order_ts, 1, 10) FROM orders WHERE status <> 'cancelled' "
                                   "AND currency = 'EUR' ORDER BY order_id LIMIT 1").fetchone()
        db.execute("INSERT INTO order_items VALUES (?, 99, 9999, 2, 10.0, 0.0, '2099-01-01 00:00:00')", (order_id,))
    assert run_jobs(world_copy, lake, select_jobs(["bronze_app_db", "silver_order_lines"])).failed == []
    rejected = lake.read("silver.rejects").where(F.col("rule") == "product_unknown").count()
    assert rejected >= 1
    revenue_before = _revenue(lake, day)

    with _app_db(world_copy) as db:  # the missing product arrives
        db.execute("INSERT INTO products VALUES (9999, 'Late cheese', 'dairy', 10.0, '2099-01-01 00:00:00')")
    assert run_jobs(world_copy, lake, select_jobs(["bronze_app_db", "silver_products"])).failed == []

    first = _cli(world_copy, "dq", "readmit", "--table", "silver.order_lines", "--rule", "product_unknown")
    assert first.exit_code == 0, first.output
    assert f"{rejected:,} rejected row(s); {rejected:,} admitted, 0 still rejected" in first.output
    line = lake.read("silver.order_lines").where((F.col("order_id") == order_id) & (F.col("line_no") == 99))
    assert line.count() == 1
    assert lake.read("silver.rejects").where(F.col("rule") == "product_unknown").count() == 0
    revenue_after = _revenue(lake, day)
    assert revenue_after == revenue_before + Decimal("20.00")  # downstream gold refreshed, to the cent

    version = lake.version("silver.order_lines")
    again = _cli(world_copy, "dq", "readmit", "--table", "silver.order_lines", "--rule", "product_unknown")
    assert again.exit_code == 0 and "0 rejected row(s)" in again.output
    assert lake.version("silver.order_lines") == version
    assert run_jobs(world_copy, lake, select_jobs(["silver", "gold"])).failed == []  # a later full rebuild agrees
    assert line.count() == 1


def test_report_shows_latest_checks_trends_and_builds_data_docs(world_copy: Config) -> None:
    from lakehouse.quality.site import unrendered

    root = world_copy.data_dir / "quality"
    assert unrendered(root)  # the runs filed their results and built no page
    result = _cli(world_copy, "dq", "report", "--table", "silver.telemetry", "--last", "5")
    assert result.exit_code == 0, result.output
    assert unrendered(root) == []  # the report built every page the site shows
    assert "temperature_out_of_range" in result.output and "primary_key_unique" in result.output
    index = Path(result.output.split("file://", 1)[1].split()[0])
    assert index.is_file() and "silver.telemetry" in index.read_text() + "".join(
        p.read_text() for p in index.parent.rglob("*.html")
    )


def test_readmit_names_an_unknown_table(world_copy: Config) -> None:
    result = _cli(world_copy, "dq", "readmit", "--table", "gold.daily_sales", "--rule", "x")
    assert result.exit_code == 2 and "silver.order_lines" in result.output


def _gate(spark, make_config, tmp_path: Path):
    from lakehouse.quality.gate import QualityGate

    config = make_config(tmp_path / "scratch")
    return QualityGate(config, Lake(spark, config.lake_dir), "test-run", dt.datetime(2026, 5, 1, tzinfo=dt.UTC))


TABLE_JOBS = ["silver_orders", "silver_order_lines", "silver_telemetry", "gold_daily_sales", "gold_cold_chain_daily"]


@pytest.mark.parametrize("job_name", TABLE_JOBS)
def test_a_duplicate_key_is_critical(spark, built_world: Config, make_config, tmp_path: Path, job_name: str) -> None:
    from lakehouse.jobs import JOBS
    from lakehouse.quality.checks import QualityGateFailed

    spec = JOBS[job_name].spec
    rows = Lake(spark, built_world.lake_dir).read(spec.name)
    broken = rows.unionByName(rows.limit(1))
    with pytest.raises(QualityGateFailed) as failed:
        _gate(spark, make_config, tmp_path).check(job_name, spec, broken)
    [failure] = failed.value.failures
    assert (failure.rule, failure.failing_count) == ("primary_key_unique", 2)


def test_negative_revenue_in_daily_sales_is_critical(spark, built_world: Config, make_config, tmp_path: Path) -> None:
    from lakehouse.gold import daily_sales
    from lakehouse.quality.checks import QualityGateFailed

    rows = Lake(spark, built_world.lake_dir).read("gold.daily_sales")
    first = rows.orderBy(*daily_sales.SPEC.key).first()
    broken = rows.withColumn(
        "revenue_eur",
        F.when((F.col("order_date") == first["order_date"]) & (F.col("country") == first["country"])
               & (F.col("category") == first["category"]), F.lit(Decimal("-5.00")).cast("decimal(18,2)"))
        .otherwise(F.col("revenue_eur")),
    )
    gate = _gate(spark, make_config, tmp_path)
    assert gate.check("gold_daily_sales", daily_sales.SPEC, rows)  # the table as built passes
    with pytest.raises(QualityGateFailed) as failed:
        gate.check("gold_daily_sales", daily_sales.SPEC, broken)
    [failure] = failed.value.failures
    assert failure.rule == "revenue_negative" and float(failure.observed) == -5.0
    assert '"revenue_eur": "-5.00"' in failure.examples[0]  # the decimal's exact digits
