"""A batch cut off between its data commit and its ledger entry is rolled back by the next run,
whatever arrived in between (new files change the next batch's id)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from lakehouse.engine import get_session
from lakehouse.ingest import ingest_clickstream
from lakehouse.state import IngestState
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)


def _land(sources: Path, day: str, name: str, ids: range, bad: int = 0) -> list[str]:
    folder = sources / "clickstream" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    events = [{"event_id": f"{name}-{i}", "session_id": "s", "customer_id": i, "event_type": "page_view",
               "ts": f"{day}T10:00:{i:02d}Z", "page": "/", "device": "web"} for i in ids]
    lines = [json.dumps(e) for e in events] + ["{not json"] * bad
    (folder / name).write_text("\n".join(lines) + "\n")
    return [e["event_id"] for e in events]


def test_a_crash_then_new_files_leaves_every_event_once(tmp_path: Path, make_config,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(tmp_path)
    lake = Lake(get_session(config), config.lake_dir)
    first = _land(config.sources_dir, "2026-01-01", "events-0001.jsonl", range(5), bad=2)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed between the data commit and the ledger")

    monkeypatch.setattr(IngestState, "record_files", crash)
    with pytest.raises(RuntimeError, match="killed"):
        ingest_clickstream(lake, config, AT)
    monkeypatch.undo()
    assert lake.read("bronze.events").count() == 5  # the crashed attempt's rows are in the table

    second = _land(config.sources_dir, "2026-01-02", "events-0002.jsonl", range(3), bad=1)
    result = ingest_clickstream(lake, config, AT)

    assert (result.records, result.rejected) == (8, 3)
    ids = [r[0] for r in lake.read("bronze.events").select("event_id").collect()]
    assert sorted(ids) == sorted(first + second)
    assert lake.read("bronze.quarantine").count() == 3
    assert IngestState(lake).unfinished_batches("bronze.events") == []
    # and a run with nothing new changes nothing
    assert ingest_clickstream(lake, config, AT).batches == 0
    assert lake.read("bronze.events").count() == 8
