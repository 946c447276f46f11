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
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.generate import generate_world
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake
from tests.conftest import WORLD_DAYS, WORLD_SCALE, WORLD_SEED

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
    snap = {}
    for table in tables:
        frame = lake.read(table).toPandas()
        frame = frame[sorted(c for c in frame.columns if c not in ("_ingested_at", "rejected_at"))]
        snap[table] = sorted(map(tuple, frame.astype(str).itertuples(index=False)))
    return snap


# -- independent recomputation from the sources --------------------------------------------------
def _expected_daily_sales(config: Config) -> dict[tuple[str, str, str], tuple[int, int, float]]:
    # Closed here, not left to the garbage collector: its open transaction (the temporary table)
    # holds a read lock on the app database that blocks the generator's next write.
    with contextlib.closing(sqlite3.connect(config.sources_dir / "app.db")) as con:
        return _daily_sales_from(con, config)


def _daily_sales_from(con: sqlite3.Connection, config: Config) -> dict[tuple[str, str, str], tuple[int, int, float]]:
    con.execute("CREATE TEMP TABLE rates(date TEXT, currency TEXT, rate REAL)")
    with open(config.sources_dir / "fx" / "rates.csv", newline="") as handle:
        rows = [(r["date"], r["currency"], float(r["rate"])) for r in csv.DictReader(handle)]
    con.executemany("INSERT INTO rates VALUES (?, ?, ?)", rows)
    query = """
        SELECT substr(o.order_ts, 1, 10) AS order_date, coalesce(c.country, 'ZZ') AS country, p.category,
               count(DISTINCT o.order_id), sum(i.quantity),
               round(sum(i.quantity * i.unit_price * (1 - i.discount) / r.rate), 2)
        FROM orders o
        JOIN order_items i ON i.order_id = o.order_id
        JOIN products p ON p.product_id = i.product_id
        JOIN rates r ON r.date = substr(o.order_ts, 1, 10) AND r.currency = o.currency
        LEFT JOIN customers c ON c.customer_id = o.customer_id
        WHERE o.status <> 'cancelled'
        GROUP BY 1, 2, 3
    """
    return {(d, c, k): (n, u, rev) for d, c, k, n, u, rev in con.execute(query)}


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


def test_daily_sales_equals_a_plain_sql_recomputation_from_the_sources(world: tuple[Config, Lake]) -> None:
    config, lake = world
    expected = _expected_daily_sales(config)
    rows = lake.read("gold.daily_sales").collect()
    actual = {
        (str(r["order_date"]), r["country"], r["category"]): (r["orders"], r["units"], r["revenue_eur"]) for r in rows
    }
    assert actual.keys() == expected.keys()
    for key, (orders, units, revenue) in expected.items():
        got = actual[key]
        assert got[:2] == (orders, units), key
        assert got[2] == pytest.approx(revenue, abs=0.011), key


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
    # load), so after the extension compare per (date, category); the country split was checked above.
    expected: dict[tuple[str, str], list[float]] = {}
    for (day, _, category), (orders, units, revenue) in _expected_daily_sales(config).items():
        totals = expected.setdefault((day, category), [0, 0, 0.0])
        totals[0], totals[1], totals[2] = totals[0] + orders, totals[1] + units, totals[2] + revenue
    actual: dict[tuple[str, str], list[float]] = {}
    for r in lake.read("gold.daily_sales").collect():
        totals = actual.setdefault((str(r["order_date"]), r["category"]), [0, 0, 0.0])
        totals[0], totals[1], totals[2] = totals[0] + r["orders"], totals[1] + r["units"], totals[2] + r["revenue_eur"]
    assert actual.keys() == expected.keys()
    for key, (orders, units, revenue) in expected.items():
        assert actual[key][:2] == [orders, units], key
        assert actual[key][2] == pytest.approx(revenue, abs=0.05), key


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
