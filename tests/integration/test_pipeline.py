"""The whole pipeline at a tiny scale on real Delta tables, checked against the sources.

Expected values come from the sources themselves (SQLite, the landing files, the rates CSV),
never from the code under test.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.generate import generate_world
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake
from tests.conftest import WORLD_DAYS, WORLD_SCALE, WORLD_SEED
from tests.exact_sales import expected_daily_sales, expected_lifetime_values

pytestmark = pytest.mark.integration

GOLD = ["gold.daily_sales", "gold.customer_features", "gold.funnel_daily", "gold.cold_chain_daily"]


def _generate(config: Config, days: int) -> None:
    gen = config.generator
    generate_world(
        config.sources_dir, config.app_db_url, scale=WORLD_SCALE, seed=WORLD_SEED, days=days,
        start_date=gen.start_date, progress=False,
    )


def _run(config: Config, lake: Lake, names: list[str] | None = None):
    summary = run_jobs(config, lake, select_jobs(names or []))
    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    return summary


@pytest.fixture(scope="module")
def world(built_world: Config, spark, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Lake]:
    """A copy of the session's built world (every job run once); the last tests extend it."""
    from lakehouse.config import load_config

    data_dir = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(built_world.data_dir, data_dir, dirs_exist_ok=True)
    overrides = {"engine.kind": built_world.engine.kind, "data_dir": str(data_dir)}
    config = load_config("test", overrides=overrides, environ={})
    return config, Lake(spark, config.lake_dir)


def _snapshot(lake: Lake, tables: list[str]) -> dict[str, list[tuple]]:
    """Every row of the tables, read by delta-rs (through Apache Spark they cost 2.6 times the CPU)."""
    snap = {}
    for table in tables:
        frame = DeltaTable(str(lake.path(table))).to_pandas()
        frame = frame[sorted(c for c in frame.columns if c not in ("_ingested_at", "rejected_at"))]
        snap[table] = sorted(map(tuple, frame.astype(str).itertuples(index=False)))
    return snap


# -- independent recomputation from the sources: tests/exact_sales.py ------------------------------


def _landed_lines(root: Path) -> tuple[int, int]:
    """(parseable-looking, malformed) non-blank lines over distinct file contents under root."""
    seen, good, bad = set(), 0, 0
    for path in sorted(root.glob("date=*/*.jsonl")):
        content = path.read_bytes()
        if content in seen:
            continue
        seen.add(content)
        for line in content.decode().splitlines():
            if not line.strip():
                continue
            try:
                ok = isinstance(json.loads(line), dict)
            except json.JSONDecodeError:
                ok = False
            good, bad = (good + 1, bad) if ok else (good, bad + 1)
    return good, bad


# -- tests ---------------------------------------------------------------------------------------
def test_every_gold_table_is_in_the_catalog_with_rows(world: tuple[Config, Lake]) -> None:
    _, lake = world
    for table in GOLD:  # as `lakehouse sql` runs a query: the tables it names registered first
        assert lake.run_sql(f"SELECT count(*) AS n FROM {table}").first()["n"] > 0, table


def test_daily_sales_equals_an_exact_recomputation_from_the_sources(world: tuple[Config, Lake]) -> None:
    config, lake = world
    expected = expected_daily_sales(config.sources_dir)
    table = lake.read("gold.daily_sales")
    assert {f.name: f.dataType.simpleString() for f in table.schema.fields if f.name.endswith("_eur")} == {
        "revenue_eur": "decimal(18,2)", "avg_order_value_eur": "decimal(18,2)",
    }
    actual = {
        (str(r["order_date"]), r["country"], r["category"]):
            (r["orders"], r["units"], r["revenue_eur"], r["avg_order_value_eur"])
        for r in table.collect()
    }
    assert actual == expected  # to the cent: no tolerance


def test_lifetime_values_equal_an_exact_recomputation_from_the_sources(world: tuple[Config, Lake]) -> None:
    config, lake = world
    features = lake.read("gold.customer_features")
    assert dict(features.dtypes)["lifetime_value_eur"] == "decimal(18,2)"
    rows = features.collect()
    (as_of,) = {str(r["as_of_date"]) for r in rows}
    actual = {r["customer_id"]: r["lifetime_value_eur"] for r in rows}
    assert actual == expected_lifetime_values(config.sources_dir, as_of)  # to the cent: no tolerance


def test_no_clickstream_line_is_lost(world: tuple[Config, Lake]) -> None:
    config, lake = world
    objects, malformed = _landed_lines(config.sources_dir / "clickstream")
    bronze = lake.read("bronze.events").count()
    quarantined = lake.read("bronze.quarantine").where("source = 'clickstream'").count()
    assert malformed > 0, "the generator should deliver some malformed lines"
    assert bronze + quarantined == objects + malformed
    assert quarantined >= malformed


def test_a_redelivered_file_is_ingested_once(world: tuple[Config, Lake]) -> None:
    config, lake = world
    ledger = lake.read("ops.ingested_files").where("source = 'clickstream'").toPandas()
    hashes = Counter(p.read_bytes() for p in (config.sources_dir / "clickstream").glob("date=*/*.jsonl"))
    copies = sum(n - 1 for n in hashes.values())
    assert copies > 0, "the generator should re-deliver some files"
    assert (ledger["status"] == "duplicate").sum() == copies
    duplicate_paths = set(ledger.loc[ledger["status"] == "duplicate", "path"])
    assert lake.read("bronze.events").where(F.col("_source").isin(list(duplicate_paths))).count() == 0


def test_wrong_typed_target_cells_are_rejected_with_the_rule(world: tuple[Config, Lake]) -> None:
    config, lake = world
    with open(config.sources_dir / "targets" / "sales_targets.csv", newline="") as handle:
        bad = 0
        for row in csv.DictReader(line for line in handle if line.strip()):
            try:
                float(row["target_revenue_eur"])
            except ValueError:
                bad += 1
    assert bad > 0
    rejects = lake.read("silver.rejects").where("table = 'silver.sales_targets' AND rule = 'target_not_numeric'")
    assert rejects.count() == bad


def test_rerun_changes_no_table(world: tuple[Config, Lake]) -> None:
    config, lake = world
    tables = [t for t in lake.tables() if not t.startswith("ops.")]
    before = _snapshot(lake, tables)
    versions = {t: lake.version(t) for t in tables}
    summary = _run(config, lake)
    statuses = {r.job: r.status for r in summary.reports}
    assert all(s == "skipped" for j, s in statuses.items() if not j.startswith("bronze_")), statuses
    assert _snapshot(lake, tables) == before
    assert {t: lake.version(t) for t in tables} == versions


def test_new_days_are_processed_incrementally(world: tuple[Config, Lake]) -> None:
    config, lake = world
    before = lake.read("bronze.events").count()
    ingested_before = set(lake.read("ops.ingested_files").toPandas()["path"])
    _generate(config, WORLD_DAYS + 2)
    summary = _run(config, lake)
    new_ledger = lake.read("ops.ingested_files").toPandas()
    new_paths = set(new_ledger["path"]) - ingested_before
    assert new_paths and all("date=" in p or p.startswith("targets/") for p in new_paths)
    fresh_lines = new_ledger[new_ledger["path"].isin(new_paths) & (new_ledger["source"] == "clickstream")]
    assert lake.read("bronze.events").count() == before + int(fresh_lines["records"].sum())
    assert {r.job: r.status for r in summary.reports}["gold_daily_sales"] == "ok"
    # The app database keeps only current countries (customers moved or were erased since the first
    # load): the country at each order's time comes from silver.customers' history; every amount,
    # count and rounding from the sources, exactly.
    # (as UTC text, like the app database's order_ts: no Python datetime, no local time zone)
    versions = lake.read("silver.customers").selectExpr(
        "customer_id", "date_format(valid_from, 'yyyy-MM-dd HH:mm:ss')", "date_format(valid_to, 'yyyy-MM-dd HH:mm:ss')",
        "country",
    ).collect()
    history: dict[int, list[tuple[str, str | None, str]]] = {}
    for cid, start, end, country in versions:
        history.setdefault(cid, []).append((start, end, country))

    def country_of(customer_id: int, order_ts: str) -> str:
        versions = history.get(customer_id, [])
        held = [c for start, end, c in versions if start <= order_ts and (end is None or order_ts < end)]
        return held[0] if held else "ZZ"

    expected = expected_daily_sales(config.sources_dir, country_of)
    actual = {
        (str(r["order_date"]), r["country"], r["category"]):
            (r["orders"], r["units"], r["revenue_eur"], r["avg_order_value_eur"])
        for r in lake.read("gold.daily_sales").collect()
    }
    assert actual == expected


def test_erased_customers_have_no_personal_data_in_the_lake(world: tuple[Config, Lake]) -> None:
    config, lake = world
    with contextlib.closing(sqlite3.connect(config.sources_dir / "app.db")) as con:
        erased = [r[0] for r in con.execute("SELECT customer_id FROM erasure_requests")]
    assert erased, "the generator should request some erasures"
    for table in ("bronze.customers", "silver.customers"):
        rows = lake.read(table).where(F.col("customer_id").isin(erased)).collect()
        assert all(r["email"] is None and r["name"] is None and r["address"] is None for r in rows), table
    for table in GOLD:
        assert not {"email", "name", "address"} & set(lake.read(table).columns), table


@pytest.mark.parametrize(
    ("job", "missing"),
    [
        ("silver_events", "bronze.events"),  # first landing per key
        ("silver_orders", "bronze.orders"),  # by groups
        ("gold_daily_sales", "silver.order_lines"),  # gold
    ],
)
def test_a_job_whose_input_does_not_exist_waits_naming_it(spark, make_config, tmp_path: Path, job, missing) -> None:
    config = make_config(tmp_path)
    lake = Lake(spark, config.lake_dir)
    (report,) = run_jobs(config, lake, select_jobs([job])).reports
    assert (report.job, report.status) == (job, "waiting")
    layer, name = missing.split(".")
    assert f"{missing} does not exist yet at {lake.root / layer / name}" in report.outcome.note
    assert not (tmp_path / "lake" / "silver").exists() and not (tmp_path / "lake" / "gold").exists()
