"""A newcomer's first commands, pointed at an empty, missing or wrong data directory: one or two
lines that say what is wrong and what to do, nothing written, a non-zero exit.

Each test runs the `lakehouse` command in its own process, as users do, and checks its exact first
line and its exit code; what a run would have written is looked for on disk (or in the bucket)
directly.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from lakehouse.files import Location
from tests.integration import lakes
from tests.integration.lakes import LAKEHOUSE

pytestmark = pytest.mark.integration

GENERATE_HINT = (
    "Run `lakehouse generate` to create them there, or point --data-dir (LAKEHOUSE_DATA_DIR) at the "
    "directory that holds them."
)
EVENT = (
    '{"event_id": "e-1", "session_id": "s-1", "event_type": "page_view", "ts": "2026-01-05T10:00:00Z", '
    '"device": "web", "page": "/"}\n'
)


def _environ(**extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEHOUSE_", "SPARK_"))}
    return {**kept, **extra}


def _lakehouse(
    engine: str, data_dir: Path, *args: str, environ: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    command = [LAKEHOUSE, "--env", "test", "--engine", engine, "--data-dir", str(data_dir), *args]
    return subprocess.run(command, env=environ or _environ(), capture_output=True, text=True, timeout=timeout)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_run_in_an_empty_directory_says_no_sources_were_found_and_writes_nothing(engine: str, tmp_path: Path) -> None:
    done = _lakehouse(engine, tmp_path, "run")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [f"error: no sources found in {tmp_path}/sources", GENERATE_HINT]
    assert done.stdout == ""
    assert _tree(tmp_path) == []  # no lock file, no ops tables


def test_run_on_a_missing_directory_does_not_create_it(engine: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    done = _lakehouse(engine, missing, "run", "bronze")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == f"error: no sources found in {missing}/sources"
    assert not missing.exists()


def test_run_given_the_lake_folder_says_to_give_its_parent(engine: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "bronze").mkdir(parents=True)
    done = _lakehouse(engine, lake, "run")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"error: no sources found in {lake}/sources",
        f"{lake} looks like a lake folder: --data-dir takes the directory that holds lake/",
    ]
    assert _tree(tmp_path) == ["lake", "lake/bronze"]


def test_a_missing_app_database_and_fx_rates_file_are_one_line_each(engine: str, tmp_path: Path) -> None:
    """Some sources there, others not: the jobs without theirs fail in one line each, and SQLite
    is not left to make an empty database."""
    landed = tmp_path / "sources" / "clickstream" / "date=2026-01-05"
    landed.mkdir(parents=True)
    (landed / "events-0001.jsonl").write_text(EVENT)
    done = _lakehouse(engine, tmp_path, "run", "bronze_app_db", "bronze_fx", "bronze_clickstream")
    assert done.returncode == 1, done.stderr[-3000:]
    # the run's own lines (a JVM adds its start-up lines to stderr on the spark engine)
    assert [line for line in done.stderr.splitlines() if " failed: " in line] == [
        f"bronze_app_db failed: SourceUnavailable: no app database at {tmp_path}/sources/app.db: "
        "run `lakehouse generate`, or set sources.app_db_url",
        f"bronze_fx failed: SourceUnavailable: no FX rates file at {tmp_path}/sources/fx/rates.csv for the "
        "bundled rates API: run `lakehouse generate`, or set sources.fx.url",
    ]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "sources" / "app.db").exists()
    assert (tmp_path / "lake" / "bronze" / "events" / "_delta_log").is_dir()  # what was there was ingested


def test_tables_on_a_missing_directory_says_so(engine: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    done = _lakehouse(engine, missing, "tables")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == f"error: no lake at {missing}/lake: the directory does not exist"
    assert done.stdout == ""
    assert not missing.exists()


def test_tables_on_a_lake_with_no_table_yet_says_so(engine: str, tmp_path: Path) -> None:
    (tmp_path / "lake" / "ops").mkdir(parents=True)
    done = _lakehouse(engine, tmp_path, "tables")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"no tables under {tmp_path}/lake yet: `lakehouse run` builds them"]


# -- the landing on object storage ------------------------------------------------------------------
def test_an_empty_landing_on_s3_is_named_with_the_local_sources_folder(engine: str, s3_server, tmp_path: Path) -> None:
    root = lakes.new_bucket(s3_server, "newcomer")
    done = _lakehouse(engine, tmp_path, "run", environ=lakes.env(s3_server, root))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == f"error: no sources found in {tmp_path}/sources or {root}/sources"
    assert root.list(recursive=True) == [] and _tree(tmp_path) == []  # no lease object, no lock file


def test_sources_only_on_s3_are_found_and_ingested(engine: str, s3_server, tmp_path: Path) -> None:
    if engine == "spark":
        pytest.skip(
            "the check for sources runs before any engine starts, the same code on every engine: "
            "its S3 case is run on the embedded engine, where a run takes seconds"
        )
    root = lakes.new_bucket(s3_server, "newcomer")
    (root / "sources" / "clickstream" / "date=2026-01-05" / "events-0001.jsonl").write_text(EVENT)
    done = _lakehouse(engine, tmp_path, "run", "bronze_clickstream", environ=lakes.env(s3_server, root))
    assert done.returncode == 0, done.stderr[-3000:]
    events = lakes.table(root / "lake" / "bronze" / "events").to_pyarrow_table(columns=["event_id"])
    assert events.column("event_id").to_pylist() == ["e-1"]
    assert not Location(tmp_path / "lake").exists()


def test_a_spark_submit_entry_point_in_an_empty_directory_exits_2_before_starting(
    engine: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lakehouse.entrypoint import main

    ours = logging.getLogger("lakehouse")
    level = ours.level
    try:
        with caplog.at_level(logging.ERROR, logger="lakehouse.job"):
            code = main([], ["--engine", engine, "--env", "test", "--data-dir", str(tmp_path)])
    finally:
        ours.setLevel(level)  # the entry point sets it for its process
    assert code == 2
    assert [r.getMessage() for r in caplog.records if r.name == "lakehouse.job"] == [
        f"no sources found in {tmp_path}/sources: run `lakehouse generate` there, or pass --data-dir"
    ]
    assert _tree(tmp_path) == []
