"""The whole pipeline through spark-submit.sh on Apache Spark with Delta, as users run it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.generate import generate_world
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration


def test_dry_run_prints_a_complete_command() -> None:
    out = subprocess.run(
        [str(PROJECT_ROOT / "spark-submit.sh"), "--dry-run", "--master", "local[2]", "gold_daily_sales",
         "--env", "test"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "--master local\\[2\\]" in out and "local\\[\\*\\]" not in out
    assert "DeltaSparkSessionExtension" in out and "--py-files" in out
    assert out.strip().endswith("jobs/gold_daily_sales.py --env test")


def test_an_unknown_job_is_a_clear_error() -> None:
    proc = subprocess.run([str(PROJECT_ROOT / "spark-submit.sh"), "no_such_job"], capture_output=True, text=True)
    assert proc.returncode == 2 and "no job 'no_such_job'" in proc.stderr


def test_every_job_has_an_entry_point() -> None:
    from lakehouse.jobs import JOBS

    scripts = {p.stem for p in (PROJECT_ROOT / "jobs").glob("*.py")}
    assert scripts == set(JOBS) | {"pipeline"}


def test_pipeline_runs_under_spark_submit(engine: str, tmp_path: Path, spark) -> None:
    if engine != "spark":
        pytest.skip("spark-submit runs Apache Spark; covered by the --engine spark run of the suite")
    generate_world(tmp_path / "sources", f"sqlite:///{tmp_path / 'sources' / 'app.db'}", scale=0.01, seed=3,
                   days=3, start_date=dt.date(2026, 1, 1), progress=False)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.run(
        [str(PROJECT_ROOT / "spark-submit.sh"), "--master", "local[2]", "--driver-memory", "2g",
         "pipeline", "--env", "test", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lake = Lake(spark, tmp_path / "lake")
    for table in ("gold.daily_sales", "gold.customer_features", "gold.funnel_daily", "gold.cold_chain_daily"):
        assert lake.exists(table) and lake.read(table).count() > 0, table
