"""`lakehouse maintain --dry-run` says what `maintain` would do, changes nothing, and is right:
the same command without `--dry-run` then does what was said."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from typer.testing import CliRunner

from lakehouse.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def _toy(table: Path) -> None:
    """Versions 0-5: three appends, an overwrite (the three files unreferenced), two appends: three
    small files in force."""
    for i in range(3):
        write_deltalake(str(table), pa.table({"x": [i]}), mode="append")
    write_deltalake(str(table), pa.table({"x": [10]}), mode="overwrite")
    for i in range(2):
        write_deltalake(str(table), pa.table({"x": [11 + i]}), mode="append")


def _snapshot(root: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def _maintain(engine: str, data_dir: Path, *args: str):  # noqa: ANN202
    argv = ["--env", "test", "--engine", engine, "--data-dir", str(data_dir), "maintain", *args]
    return runner.invoke(app, argv, env={"COLUMNS": "200"})


def test_a_dry_run_changes_nothing_and_says_what_maintain_then_does(engine: str, tmp_path: Path) -> None:
    table = tmp_path / "lake" / "gold" / "toy"
    _toy(table)
    before = _snapshot(tmp_path)
    planned = _maintain(engine, tmp_path, "--dry-run", "--retention-hours", "0", "--force")
    assert planned.exit_code == 0, planned.output
    assert planned.stdout.splitlines() == [
        "gold.toy (version 5): would compact 3 small data file(s) into 1 (3 → 1 data file(s)), remove 6 file(s) "
        "unreferenced for over 0 h, and write a checkpoint",
        "dry run: nothing changed (1 table(s))",
    ]
    assert _snapshot(tmp_path) == before  # no version, file, checkpoint or lock file added
    assert DeltaTable(str(table)).version() == 5

    done = _maintain(engine, tmp_path, "--retention-hours", "0", "--force")
    assert done.exit_code == 0, done.output
    assert re.fullmatch(
        r"gold\.toy: 3 → 1 data file\(s\), 6 unreferenced file\(s\) removed, version \d+, checkpoint written",
        done.stdout.splitlines()[0],
    ), done.stdout
    after = DeltaTable(str(table))
    assert after.version() > 5 and len(after.file_uris()) == 1
    assert sorted(after.to_pyarrow_table().column("x").to_pylist()) == [10, 11, 12]
    assert len([p for p in table.glob("*.parquet")]) == 1


def test_a_dry_run_keeps_the_retention_guard_and_names_unknown_tables(engine: str, tmp_path: Path) -> None:
    _toy(tmp_path / "lake" / "gold" / "toy")
    short = _maintain(engine, tmp_path, "--dry-run", "--retention-hours", "1")
    assert short.exit_code == 2 and short.output.startswith("error: a vacuum retention of 1 h is below 168 h")
    unknown = _maintain(engine, tmp_path, "--dry-run", "--table", "gold.nosuch")
    assert unknown.exit_code == 2
    assert unknown.output.splitlines() == ["error: table gold.nosuch does not exist; the lake's tables: gold.toy"]
    kept = _maintain(engine, tmp_path, "--dry-run", "--table", "gold.toy")
    assert kept.stdout.splitlines()[0] == (
        "gold.toy (version 5): would compact 3 small data file(s) into 1 (3 → 1 data file(s)), remove 0 file(s) "
        "unreferenced for over 168 h, and write a checkpoint"
    )


@pytest.mark.parametrize(("typed", "expected"), [
    ("../x", "error: table ../x does not exist; the lake's tables: gold.toy, silver.toys"),
    ("gold/../../etc", "error: table gold/../../etc does not exist; the lake's tables: gold.toy, silver.toys"),
    ("gold.toi", "error: table gold.toi does not exist; did you mean gold.toy? The lake's tables: gold.toy, "
                 "silver.toys"),
    ("platinum.nosuch", "error: table platinum.nosuch does not exist; the lake's tables: gold.toy, silver.toys"),
])
def test_maintain_refuses_a_name_that_is_no_table_in_one_line_naming_the_tables(
    engine: str, tmp_path: Path, typed: str, expected: str
) -> None:
    """Not a traceback (a path-like name used to end in one), and nothing maintained: not even the
    table named rightly beside it."""
    _toy(tmp_path / "lake" / "gold" / "toy")
    write_deltalake(str(tmp_path / "lake" / "silver" / "toys"), pa.table({"x": [1]}))
    before = _snapshot(tmp_path)
    for dry_run in ((), ("--dry-run",)):
        done = _maintain(engine, tmp_path, *dry_run, "--table", "gold.toy", "--table", typed)
        assert done.exit_code == 2, done.output  # an uncaught exception would be 1
        assert done.output.splitlines() == [expected], done.output
    assert _snapshot(tmp_path) == before
