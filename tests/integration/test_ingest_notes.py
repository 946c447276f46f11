"""What an ingestion job's note says about files it did not read: a re-delivery (the same bytes
under another name) is a duplicate; an unchanged targets upload is nothing new, not a re-delivery."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.engine import get_session
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration

EVENT = (
    '{"event_id": "e-1", "session_id": "s-1", "event_type": "page_view", "ts": "2026-01-05T10:00:00Z", '
    '"device": "web", "page": "/"}\n'
)


def _notes(config, lake: Lake) -> dict[str, str]:  # noqa: ANN001
    summary = run_jobs(config, lake, select_jobs(["bronze_clickstream", "bronze_targets"]))
    return {r.job: r.outcome.note for r in summary.reports}


def test_only_bytes_delivered_twice_are_reported_as_duplicates(make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    lake = Lake(get_session(config), config.lake)
    day = tmp_path / "sources" / "clickstream" / "date=2026-01-05"
    day.mkdir(parents=True)
    (day / "events-0001.jsonl").write_text(EVENT)
    (day / "events-0001-redelivery.jsonl").write_text(EVENT)  # as the generator plants one a day
    (tmp_path / "sources" / "targets").mkdir()
    (tmp_path / "sources" / "targets" / "sales_targets.csv").write_text(
        "country,month,target_revenue_eur\nDE,2026-01,1000\n"
    )

    assert _notes(config, lake) == {
        "bronze_clickstream": "1 batch(es), 1 re-delivered file(s) skipped (same bytes)",
        "bronze_targets": "1 batch(es)",
    }
    assert _notes(config, lake) == {"bronze_clickstream": "0 batch(es)", "bronze_targets": "0 batch(es)"}
