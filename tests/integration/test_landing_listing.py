"""Landing files the ingestion does not read are named in a warning, never skipped silently."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from lakehouse.engine import get_session
from lakehouse.ingest import ingest_clickstream
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
LINE = '{"event_id": "e1", "session_id": "s", "event_type": "page_view", "ts": "2026-01-01T10:00:00Z"}\n'


def test_files_that_are_not_read_are_named(tmp_path: Path, make_config, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path)
    lake = Lake(get_session(config), config.lake_dir)
    root = config.sources_dir / "clickstream"
    (root / "date=2026-13-45").mkdir(parents=True)
    (root / "date=2026-13-45" / "events.jsonl").write_text(LINE)
    (root / "date=2026-01-01" / "sub").mkdir(parents=True)
    (root / "date=2026-01-01" / "sub" / "events.jsonl").write_text(LINE)
    (root / "date=2026-01-01" / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")

    with caplog.at_level(logging.WARNING, logger="lakehouse.sources.landing"):
        result = ingest_clickstream(lake, config, dt.datetime(2026, 1, 2, tzinfo=dt.UTC))

    assert result.records == 0 and not lake.exists("bronze.events")
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for name in ("date=2026-13-45", "date=2026-01-01/sub", "gone.jsonl"):
        assert name in warned, warned
