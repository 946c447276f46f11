"""docs/architecture.md's silver schema table says what the code writes: each table's key and
columns, in order, as its module declares them (so the docs cannot drift from the code)."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from lakehouse.quality.rules import REJECT_COLUMNS

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
ROW = re.compile(r"^\| `silver\.(\w+)` \|\s*([^|]*?)\s*\|\s*`([^`]*)`")


def _documented() -> dict[str, tuple[list[str], list[str]]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            name, key, columns = match.groups()
            rows[name] = ([k.strip() for k in key.strip(" `").split(",") if k.strip()],
                          [c.strip() for c in columns.split(",")])
    return rows


DOCUMENTED = _documented()


def test_every_silver_table_is_documented() -> None:
    modules = {p.stem for p in (Path(__file__).resolve().parents[2] / "lakehouse" / "silver").glob("*.py")}
    assert set(DOCUMENTED) == (modules - {"__init__"}) | {"rejects"}


@pytest.mark.parametrize("name", sorted(set(DOCUMENTED) - {"rejects"}))
def test_a_silver_tables_key_and_columns_are_the_modules(name: str) -> None:
    module = importlib.import_module(f"lakehouse.silver.{name}")
    key, columns = DOCUMENTED[name]
    assert columns == module.SCHEMA.fieldNames()
    assert key == list(module.KEY)


def test_the_rejects_columns_are_what_a_job_writes(spark) -> None:
    from lakehouse.jobs.base import with_reject_columns
    from lakehouse.quality.rules import empty_rejects

    run = SimpleNamespace(run_id="r", started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # what it reads of a job
    written = with_reject_columns(empty_rejects(spark), run)  # type: ignore[arg-type]
    assert DOCUMENTED["rejects"][1] == written.columns
    assert tuple(written.columns[: len(REJECT_COLUMNS)]) == REJECT_COLUMNS
