"""Great Expectations is imported while ingestion runs, when what landed will be checked by it (a
suite that `lakehouse.quality.native` evaluates needs no import)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.jobs import JOBS, Job, JobContext, JobOutcome
from lakehouse.pipeline import run_jobs
from lakehouse.quality import gate
from lakehouse.quality.gate import QualityGate
from lakehouse.quality.suites import critical, expect
from lakehouse.storage import Lake
from lakehouse.tables import TableSpec


def _ingest(name: str, landed: int) -> Job:
    return Job(name, (), (f"bronze.{name}",), lambda ctx: JobOutcome(rows_in=landed, rows_out=landed),
               incremental_source=True)


def _transform(name: str, source: str, seen: list[bool]) -> Job:
    def run(ctx: JobContext) -> JobOutcome:
        seen.append(ctx.gate.importing)  # started by then, or not
        return JobOutcome()

    return Job(name, (source,), (f"silver.{name}",), run)


class _Finished:
    def join(self) -> None:
        pass


@pytest.mark.parametrize(
    ("landed", "with_transform", "imports"),
    [(5, True, 1), (0, True, 0), (5, False, 0)],
    ids=["landed-then-checked", "nothing-landed", "no-transform-follows"],
)
def test_the_import_starts_when_landed_rows_will_be_checked(
    spark, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, landed: int, with_transform: bool,
    imports: int,
) -> None:
    started: list[str] = []
    monkeypatch.setattr(gate, "import_in_background", lambda: started.append("import") or _Finished())
    config = make_config(tmp_path)
    seen: list[bool] = []
    jobs = [_ingest("a", 0), _ingest("b", landed)]
    if with_transform:
        jobs.append(_transform("c", "bronze.b", seen))
    summary = run_jobs(config, Lake(spark, config.lake_dir), jobs)
    assert [r.status for r in summary.reports] == ["ok"] * len(jobs)
    assert len(started) == imports
    assert seen == ([bool(imports)] if with_transform else [])


@pytest.mark.parametrize("with_transform", [True, False], ids=["checked-later", "not-checked"])
def test_an_ingestion_with_new_records_starts_the_import_before_it_ends(
    spark, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_transform: bool
) -> None:
    started: list[str] = []
    monkeypatch.setattr(gate, "import_in_background", lambda: started.append("import") or _Finished())
    during: list[bool] = []

    def land(ctx: JobContext) -> JobOutcome:
        ctx.landing()  # what the built-in ingestions call once they know records are new
        during.append(ctx.gate.importing)
        return JobOutcome(rows_in=3, rows_out=3)

    jobs = [Job("a", (), ("bronze.a",), land, incremental_source=True)]
    if with_transform:
        jobs.append(_transform("c", "bronze.a", []))
    config = make_config(tmp_path)
    run_jobs(config, Lake(spark, config.lake_dir), jobs)
    assert during == [with_transform]
    assert started == (["import"] if with_transform else [])


def test_the_first_check_waits_for_the_import(make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []

    class Importing:
        def join(self) -> None:
            order.append("joined")

    monkeypatch.setattr(gate, "import_in_background", lambda: order.append("started") or Importing())

    class Runner:
        def persist(self) -> None:
            order.append("filed")

    monkeypatch.setattr(gate, "runner_for", lambda root: order.append("runner") or Runner())
    checks = QualityGate(make_config(tmp_path), Lake(None, tmp_path), "run-1", None)  # type: ignore[arg-type]
    checks.prepare()
    checks.prepare()  # once per run
    assert checks.importing
    _ = checks.runner
    checks.flush()
    assert order == ["started", "joined", "runner", "joined", "filed"]


IMPORT = """
import sys
from lakehouse.quality import gate
before = "great_expectations" in sys.modules
gate.import_in_background().join()
print(before, "great_expectations" in sys.modules, "lakehouse.quality.expectations" in sys.modules)
"""


def test_the_thread_imports_great_expectations() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]


def test_checks_turned_off_import_nothing(make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "import_in_background", lambda: pytest.fail("imported with checks off"))
    checks = QualityGate(make_config(tmp_path, **{"quality.enabled": False}), Lake(None, tmp_path), "r", None)  # type: ignore[arg-type]
    checks.prepare()
    assert not checks.importing


def _checked(name: str, source: str, spec: TableSpec) -> Job:
    return Job(name, (source,), (spec.name,), lambda ctx: JobOutcome(), spec=spec)


GREEN = TableSpec(name="gold.green", key=("k",), comments={"k": "the key"},
                  expectations=(critical(expect("ExpectColumnValuesToMatchRegex", column="k", regex="^g")),))


@pytest.mark.parametrize(("spec", "imports"), [(JOBS["gold_daily_sales"].spec, 0), (GREEN, 1)],
                         ids=["native-suite", "suite-needing-great-expectations"])
def test_the_import_starts_only_for_suites_that_need_great_expectations(
    spark, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: TableSpec, imports: int
) -> None:
    started: list[str] = []
    monkeypatch.setattr(gate, "import_in_background", lambda: started.append("import") or _Finished())
    config = make_config(tmp_path)
    jobs = [_ingest("b", 5), _checked("c", "bronze.b", spec)]
    summary = run_jobs(config, Lake(spark, config.lake_dir), jobs)
    assert [r.status for r in summary.reports] == ["ok", "ok"]
    assert len(started) == imports
