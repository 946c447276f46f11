"""spark-submit.sh: the command it builds, its errors, and the whole pipeline through it on Apache Spark."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT, Config
from lakehouse.pipeline import select_jobs
from lakehouse.storage import Lake
from tests.conftest import SUBMIT_LOG

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


def test_pipeline_runs_under_spark_submit(engine: str, built_world: Config, spark) -> None:
    """On Apache Spark the session's built world comes from `spark-submit.sh pipeline` (see
    `tests/conftest.py`): every job ran there, and every gold table it feeds has rows."""
    if engine != "spark":
        pytest.skip("spark-submit runs Apache Spark; covered by the --engine spark run of the suite")
    log = (built_world.data_dir / SUBMIT_LOG).read_text()
    finished = {m.group(1): m.group(2) for m in re.finditer(r"lakehouse\.job: (\w+)\s+(\w+)\s+rows_in=", log)}
    assert finished == {job.name: "ok" for job in select_jobs([])}, finished
    assert "Skipping registering function" not in log  # libraries' INFO lines only with -v
    lake = Lake(spark, built_world.lake_dir)
    for table in ("gold.daily_sales", "gold.customer_features", "gold.funnel_daily", "gold.cold_chain_daily"):
        assert lake.exists(table) and lake.read(table).count() > 0, table


def _dry_run(jars_dir: Path, *options: str) -> str:
    env = {**os.environ, "LAKEHOUSE_JARS_DIR": str(jars_dir)}
    return subprocess.run(
        [str(PROJECT_ROOT / "spark-submit.sh"), "--dry-run", *options, "gold_daily_sales"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout


def test_the_driver_uses_the_class_archive_beside_the_jars_unless_told_otherwise(tmp_path: Path) -> None:
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "delta-spark_2.13-4.0.1.jar").write_bytes(b"")
    assert "SharedArchiveFile" not in _dry_run(jars)  # no archive yet
    (tmp_path / "spark-classes.jsa").write_bytes(b"")
    assert f"-XX:SharedArchiveFile={tmp_path / 'spark-classes.jsa'}" in _dry_run(jars).replace("\\", "")
    own = _dry_run(jars, "--driver-java-options", "-Dmine=1")
    assert "SharedArchiveFile" not in own and "-Dmine=1" in own  # the user's options are not overridden


@pytest.mark.parametrize(("variable", "uri", "s3a"), [
    ("LAKEHOUSE_LAKE_URI", "s3://lake/x", True),
    ("LAKEHOUSE_LAKE_URI", "S3://lake/x", True),
    ("LAKEHOUSE_LANDING_URI", "S3A://lake/x", True),
    ("LAKEHOUSE_LANDING_URI", "s3a://lake/x", True),
    ("LAKEHOUSE_LAKE_URI", "s3x://lake/x", False),
    ("LAKEHOUSE_LAKE_URI", "/data/s3://lake", False),
])
def test_s3a_jars_are_added_for_an_s3_uri_in_any_case(tmp_path: Path, variable: str, uri: str, s3a: bool) -> None:
    """The config takes `S3://` as `s3://` (a URI's scheme is case-insensitive): so does the script."""
    jars, s3a_jars = tmp_path / "jars", tmp_path / "s3a"
    for folder, name in ((jars, "delta-spark_2.13-4.0.1.jar"), (s3a_jars, "hadoop-aws-3.4.1.jar")):
        folder.mkdir()
        (folder / name).write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env |= {"LAKEHOUSE_JARS_DIR": str(jars), "LAKEHOUSE_S3A_JARS_DIR": str(s3a_jars), variable: uri}
    command = subprocess.run([str(PROJECT_ROOT / "spark-submit.sh"), "--dry-run", "gold_daily_sales"],
                             capture_output=True, text=True, check=True, env=env).stdout
    assert ("hadoop-aws-3.4.1.jar" in command) is s3a, command
