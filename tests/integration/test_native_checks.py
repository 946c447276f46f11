"""A run whose suites are all of the kinds `lakehouse.quality.native` evaluates never imports Great
Expectations, and its outcomes still reach Data Docs; a suite with any other kind still goes
through Great Expectations."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.config import Config, load_config
from lakehouse.quality import site
from lakehouse.quality.checks import QualityGateFailed
from lakehouse.quality.gate import QualityGate
from lakehouse.quality.suites import critical, expect
from lakehouse.storage import Lake
from lakehouse.tables import TableSpec

pytestmark = pytest.mark.integration

# `lakehouse` as its console script runs it, telling at exit whether Great Expectations was imported
PROBE = """
import atexit, sys
atexit.register(lambda: print("great_expectations imported:", "great_expectations" in sys.modules, file=sys.stderr))
from lakehouse.cli import app
sys.argv[0] = "lakehouse"
app()
"""


@pytest.fixture(scope="module")
def native_run(engine: str, spark, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, str, dict]:
    """A two-day world of scale 0.01 taken through `lakehouse run` in a process of its own: its
    config, the process's standard error and what the run filed for Data Docs (one file)."""
    from lakehouse.generate import generate_world

    data_dir = tmp_path_factory.mktemp("native-run")
    config = load_config("test", overrides={"engine.kind": engine, "data_dir": str(data_dir)}, environ={})
    generate_world(config.sources_dir, config.app_db_url, scale=0.01, seed=3, days=2,
                   start_date=config.generator.start_date, progress=False)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEHOUSE_", "SPARK_"))}
    command = [sys.executable, "-c", PROBE, "--env", "test", "--engine", engine, "--data-dir", str(data_dir), "run"]
    done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    [filed] = site.pending(config.data_dir / "quality")
    return config, done.stderr, json.loads(filed.read_text())


def test_a_run_with_native_suites_does_not_import_great_expectations(native_run: tuple[Config, str, dict]) -> None:
    config, stderr, filed = native_run
    assert "great_expectations imported: False" in stderr
    results = DeltaTable(str(config.lake_dir / "ops" / "dq_results")).to_pandas()
    checked = set(results[results["rule"] == "primary_key_unique"]["table"])
    assert {"silver.order_lines", "gold.daily_sales", "gold.customer_segments"} <= checked
    suites = {s["suite"]: s for s in filed["suites"]}
    rules = [c["rule"] for c in suites["gold.daily_sales"]["checks"]]
    assert rules == ["order_date_not_null", "country_not_null", "category_not_null", "primary_key_unique",
                     "revenue_negative"]


def test_the_report_shows_a_native_run_in_data_docs(native_run: tuple[Config, str, dict]) -> None:
    config, _, filed = native_run
    root = config.data_dir / "quality"
    run_id = filed["run_id"]
    base = ["--env", "test", "--engine", config.engine.kind, "--data-dir", str(config.data_dir)]
    result = CliRunner().invoke(app, [*base, "dq", "report"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert site.pending(root) == [] and site.unrendered(root) == []
    index = Path(result.output.split("file://", 1)[1].split()[0])
    assert run_id in index.read_text()
    pages = site.site_dir(root) / "validations" / "gold" / "daily_sales" / run_id
    [page] = list(pages.rglob("*.html"))
    assert "revenue_eur" in page.read_text() and "expect_key_to_be_unique" in page.read_text()
    suite = json.loads((root / "gx" / "expectations" / "gold" / "daily_sales.json").read_text())
    assert suite["expectations"][-1]["meta"] == {"severity": "critical", "rule": "revenue_negative",
                                                 "examples_where": "revenue_eur < 0"}


REGEX = critical(expect("ExpectColumnValuesToMatchRegex", column="code", regex="^g"), "code_not_green")
GREEN = TableSpec(name="gold.green", key=("k",), comments={"k": "the key", "code": "a code"}, expectations=(REGEX,))


def test_an_expectation_of_another_kind_is_validated_by_great_expectations(
    spark, make_config, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    gate = QualityGate(config, Lake(spark, config.lake_dir), "run-1", dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    rows = spark.createDataFrame([(1, "green"), (2, "grey"), (3, "red")], "k long, code string")
    with pytest.raises(QualityGateFailed) as failed:
        gate.check("gold_green", GREEN, rows)
    [failure] = failed.value.failures
    assert (failure.rule, failure.failing_count, failure.examples) == ("code_not_green", 1, ('"red"',))
    assert gate._runner is not None  # through Great Expectations
    gate.flush()
    filed = list((config.data_dir / "quality" / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert filed and all("gold/green/run-1" in str(p) for p in filed)
    assert site.pending(config.data_dir / "quality") == []
