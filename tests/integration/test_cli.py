"""The `lakehouse` command as users call it (in-process, on this run's engine)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.config import Config

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, built_world: Config) -> Path:
    """A private copy of the session's built world (building another costs two minutes on the JVM)."""
    root = tmp_path_factory.mktemp("cli") / "world"
    shutil.copytree(built_world.data_dir, root)
    return root


def test_generate_writes_every_source(engine: str, tmp_path: Path) -> None:
    result = _invoke(engine, tmp_path, "generate", "--scale", "0.01", "--days", "2", "--seed", "11")
    assert result.exit_code == 0, result.output
    for source in ("app.db", "clickstream", "telemetry", "fx/rates.csv"):
        assert (tmp_path / "sources" / source).exists(), source


def _invoke(engine: str, data_dir: Path, *args: str):
    args_ = ["--env", "test", "--engine", engine, "--data-dir", str(data_dir), *args]
    return runner.invoke(app, args_, env={"COLUMNS": "160"})


def test_run_prints_a_summary_per_job(engine: str, data_dir: Path) -> None:
    result = _invoke(engine, data_dir, "run")
    assert result.exit_code == 0, result.output
    assert "gold_daily_sales" in result.output and "skipped" in result.output


def test_a_job_whose_input_is_missing_exits_4_naming_the_table_and_its_job(engine: str, tmp_path: Path) -> None:
    result = _invoke(engine, tmp_path, "run", "gold_daily_sales")
    assert result.exit_code == 4, result.output
    lines = [line for line in result.output.splitlines() if "did not run" in line]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("gold_daily_sales did not run: silver.order_lines does not exist yet")
    assert lines[0].endswith("(written by silver_order_lines)")
    assert not (tmp_path / "lake" / "gold").exists()


def test_tables_lists_every_gold_table_with_rows_and_version(engine: str, data_dir: Path) -> None:
    result = _invoke(engine, data_dir, "tables")
    assert result.exit_code == 0, result.output
    for table in ("gold.daily_sales", "gold.customer_features", "gold.funnel_daily", "gold.cold_chain_daily"):
        assert table in result.output


def test_sql_answers_in_json_and_csv(engine: str, data_dir: Path) -> None:
    query = "SELECT count(*) AS n FROM gold.daily_sales"
    as_json = _invoke(engine, data_dir, "sql", "--format", "json", query)
    assert as_json.exit_code == 0, as_json.output
    n = json.loads(as_json.stdout.strip().splitlines()[-1])["n"]
    assert n > 0
    as_csv = _invoke(engine, data_dir, "sql", "--format", "csv", query)
    assert as_csv.stdout.strip().splitlines()[-2:] == ["n", str(n)]


def test_sql_that_cannot_run_is_one_line_and_exit_2(engine: str, data_dir: Path) -> None:
    for query, named in (("SELECT * FROM gold.nosuch", "nosuch"), ("SELEC 1", "SELEC")):
        result = _invoke(engine, data_dir, "sql", query)
        assert result.exit_code == 2, result.output
        assert named in result.output and "Traceback" not in result.output


def test_sql_finds_a_table_its_name_pattern_misses(engine: str, data_dir: Path) -> None:
    # a process of its own: a fresh session has no table registered, so the fallback must register them
    query = "SELECT count(*) AS n FROM gold .daily_sales"  # the space hides the name from the pattern
    cmd = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--engine", engine,
           "--data-dir", str(data_dir), "sql", "--format", "csv", query]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = len(DeltaTable(str(data_dir / "lake" / "gold" / "daily_sales")).to_pandas())
    assert done.stdout.strip().splitlines()[-2:] == ["n", str(expected)]


def test_unknown_job_and_bad_format_exit_2(engine: str, data_dir: Path) -> None:
    assert _invoke(engine, data_dir, "run", "gold_nothing").exit_code == 2
    assert _invoke(engine, data_dir, "sql", "--format", "xml", "SELECT 1").exit_code == 2


def test_bad_config_value_is_one_line_naming_the_key(engine: str, data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PIPELINE__COLD_CHAIN_LIMIT_C", "warm")
    result = _invoke(engine, data_dir, "tables")
    assert result.exit_code == 2
    assert "pipeline.cold_chain_limit_c" in result.output and "environment" in result.output


def _rows(lake: Path, table: str) -> pd.DataFrame:
    layer, name = table.split(".")
    return DeltaTable(str(lake / layer / name)).to_pandas()


def test_the_demo_takes_a_new_world_through_the_whole_lifecycle(engine: str, tmp_path: Path) -> None:
    """The README's first command, on a smaller world: sources, pipeline, stream, model, CRM."""
    result = _invoke(engine, tmp_path, "demo", "--scale", "0.01", "--days", "70")
    assert result.exit_code == 0, result.output[-3000:]
    output, lake = result.output, tmp_path / "lake"
    assert "Where to look:" in output and "Traceback" not in output
    # run as of the world's last day: its sources are fresh for that day, however old they are today
    assert "source_freshness" not in output, output[-3000:]
    # the generator delivers one clickstream file a day twice, and the demo says it does so on purpose
    assert int(re.search(r"(\d+) re-delivered file\(s\) skipped", output).group(1)) == 70
    assert "delivered twice (the re-delivered files skipped above)" in output
    # monitored right after training, on data that only aged: no drift to report
    assert re.search(r"model monitoring: \d+ OK, 0 WARN, 0 ALERT", output), output[-3000:]

    landed = int(re.search(r"landed ([\d,]+) readings", output).group(1).replace(",", ""))
    streamed = _rows(lake, "bronze.telemetry")["_source"].str.startswith("fleet.telemetry/").sum()
    assert landed > 0 and streamed == landed
    scored = int(re.search(r"scored ([\d,]+) customers", output).group(1).replace(",", ""))
    assert scored == len(_rows(lake, "gold.customer_churn_scores")) > 0
    segments = _rows(lake, "gold.customer_segments")
    inserted = int(re.search(r"CRM: postgres: .*?: (\d+) insert\(s\)", output).group(1))
    assert inserted == len(segments) > 0 and segments["churn_probability"].notna().all()
    assert (tmp_path / "mlflow" / "mlflow.db").is_file()
    port = int((tmp_path / "kafka" / "port").read_text())
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the demo left its broker running"


def _refused_to_another_run(config: Config) -> bool:
    """Whether another run would find the lake taken now: the kernel's lock on the local lock file
    (a new open file description competes even in this process), or an unexpired lease on S3."""
    import fcntl
    import time

    if not config.lake.is_local:
        lease = config.lake / "_lakehouse.lock"
        return lease.exists() and json.loads(lease.read_text())["expires"] > time.time()
    with (config.data_dir / ".lakehouse.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@pytest.mark.parametrize("where", ["local", "s3"])
def test_every_step_of_the_demo_lifecycle_holds_the_lake(
    where: str, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The stream, training, scoring, segments, monitoring and CRM steps write tables: each runs
    with the lake taken, as `lakehouse run` does (the steps themselves stand in here)."""
    from types import SimpleNamespace

    from lakehouse import demo
    from lakehouse.ml import monitor, score, train
    from lakehouse.reverse_etl import demo as crm_demo
    from tests.integration import lakes

    overrides = {}
    if where == "s3":
        server = request.getfixturevalue("s3_server")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        overrides["storage.lake_uri"] = str(lakes.new_bucket(server, "demo-lock") / "lake")
    config = make_config(tmp_path, **overrides)
    held: dict[str, bool] = {}

    def step(name: str, result: object):  # noqa: ANN202
        def run(*args: object, **kwargs: object) -> object:
            held[name] = _refused_to_another_run(config)
            return result
        return run

    def done(name: str) -> SimpleNamespace:
        return SimpleNamespace(describe=lambda: name)

    monkeypatch.setattr(demo, "run_stream", step("stream", None))  # None: it ran
    monkeypatch.setattr(train, "train", step("train", done("train")))
    monkeypatch.setattr(score, "score", step("score", done("score")))
    monkeypatch.setattr(demo, "run_jobs", step("segments", SimpleNamespace(failed=[])))
    monkeypatch.setattr(monitor, "monitor", step("monitor", done("monitor")))
    monkeypatch.setattr(crm_demo, "run_sync_demo", step("crm", done("crm")))
    lake = SimpleNamespace(row_count=lambda table: 0)

    assert not _refused_to_another_run(config)
    assert demo.run_lifecycle(config, lake, lambda line: None) == []  # type: ignore[arg-type]
    assert held == dict.fromkeys(("stream", "train", "score", "segments", "monitor", "crm"), True)
    assert not _refused_to_another_run(config)  # and let go afterwards


def test_a_demo_stream_that_cannot_start_its_broker_says_why(make_config, tmp_path: Path, monkeypatch) -> None:
    """The demo names the step that did not run, so its last lines say why it exits 1."""
    from lakehouse.demo import run_stream
    from lakehouse.streaming import broker

    monkeypatch.setattr(broker, "JARS", tmp_path / "no-jars")
    said: list[str] = []
    missed = run_stream(make_config(tmp_path / "data"), None, said.append, days=1)  # type: ignore[arg-type]
    assert missed is not None and "no Kafka jars" in missed and str(tmp_path / "no-jars") in missed
    assert said == [missed]
