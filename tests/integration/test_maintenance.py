"""`lakehouse maintain` on real tables: compaction keeps every row and the table readable by the
other engine and delta-rs; the retention guard; purging erased customers' old files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.maintenance import RetentionTooShort, maintain_table, purge_erased
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _rows(path: Path) -> list[str]:
    return sorted(map(repr, DeltaTable(str(path)).to_pandas().sort_index(axis=1).itertuples(index=False)))


def test_compaction_keeps_rows_and_every_reader(spark, world_copy: Config, engine: str) -> None:
    lake = Lake(spark, world_copy.lake_dir)
    path = lake.path("silver.events")
    before, count = _rows(path), lake.read("silver.events").count()
    result = maintain_table(lake, "silver.events")
    assert result.files_after < result.files_before
    assert result.version == result.history[0]["version"]
    # Delta on Spark logs VACUUM START/END commits after the compaction; delta-rs does not
    operations = [c["operation"] for c in result.history if not str(c["operation"]).startswith("VACUUM")]
    assert operations[0] == "OPTIMIZE", result.history
    assert _rows(path) == before  # delta-rs
    assert lake.read("silver.events").count() == count  # this engine
    other = "spark" if engine == "embedded" else "embedded"
    query = "SELECT count(*) AS n FROM silver.events"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")}  # this engine's session settings
    answer = subprocess.run(
        [LAKEHOUSE, "--env", "test", "--engine", other, "--data-dir", str(world_copy.data_dir), "sql",
         "--format", "csv", query], capture_output=True, text=True, timeout=300, env=env,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.strip().splitlines()[-1] == str(count)  # the other engine
    summary = run_jobs(world_copy, lake, select_jobs(["gold_funnel_daily"]))  # and writes go on
    assert not summary.failed, [(r.job, r.error) for r in summary.failed]


def test_vacuum_below_the_retention_guard_needs_force(spark, world_copy: Config) -> None:
    lake = Lake(spark, world_copy.lake_dir)
    with pytest.raises(RetentionTooShort, match="--force"):
        maintain_table(lake, "gold.daily_sales", retention_hours=1)
    lake.overwrite(lake.read("gold.daily_sales"), "gold.daily_sales")  # version 0's files now unreferenced
    maintain_table(lake, "gold.daily_sales")  # 7 days: they stay, time travel still works
    assert len(DeltaTable(str(lake.path("gold.daily_sales")), version=0).to_pandas()) > 0


def _files_containing(folder: Path, text: str) -> list[Path]:
    found = []
    for file in folder.rglob("*.parquet"):
        table = pq.read_table(file)
        if "email" in table.column_names and text in table.column("email").to_pylist():
            found.append(file)
    return found


def test_purge_erased_removes_old_files_with_personal_data(spark, world_copy: Config) -> None:
    lake = Lake(spark, world_copy.lake_dir)
    customer, email = lake.read("silver.customers").where(F.col("email").isNotNull()).select(
        "customer_id", "email").orderBy("customer_id").first()
    with sqlite3.connect(world_copy.sources_dir / "app.db") as db:
        db.execute("DELETE FROM customers WHERE customer_id = ?", (customer,))
        db.execute("INSERT INTO erasure_requests VALUES (?, '2099-01-01 00:00:00')", (customer,))
    summary = run_jobs(world_copy, lake, select_jobs(["bronze_app_db", "silver_customers"]))
    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    assert lake.read("bronze.customers").where(F.col("email") == email).count() == 0  # current versions: erased
    assert _files_containing(lake.path("bronze.customers").local_path, email)  # ... but an old version still has it
    rows = {t: lake.read(t).count() for t in ("bronze.customers", "silver.customers")}

    purge_erased(lake)

    for table in ("bronze.customers", "silver.customers"):
        assert _files_containing(lake.path(table).local_path, email) == []
        assert lake.read(table).count() == rows[table]
