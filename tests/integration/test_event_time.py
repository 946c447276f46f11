"""Records dated in the future, or before the earliest date, on real tables: rejected by silver
(increments, full rebuilds, backfills alike), never in gold, out of source freshness, and
re-admitted once their time has come. Expected values come from the landed records and the tables
as they were before, never from the rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lakehouse.backfill import backfill, select_backfill_jobs
from lakehouse.cli import app
from lakehouse.config import Config
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake
from tests.conftest import WORLD_DAYS

pytestmark = pytest.mark.integration
runner = CliRunner()
JOBS = ("bronze_clickstream", "silver_events", "gold_funnel_daily")


def _lake(spark, config: Config) -> Lake:
    lake = Lake(spark, config.lake_dir)
    lake.register_all()
    return lake


def _event(event_id: str, at: dt.datetime) -> dict:
    return {"event_id": event_id, "session_id": f"s-{event_id}", "customer_id": None, "event_type": "page_view",
            "ts": f"{at:%Y-%m-%dT%H:%M:%SZ}", "page": "/", "product_id": None, "query": None, "device": "web"}


def _land(config: Config, day: dt.date, records: list[dict]) -> None:
    folder = config.sources_dir / "clickstream" / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events-probe.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _rejected(lake: Lake, *event_ids: str) -> dict[str, str]:
    rows = lake.read("silver.rejects").where(F.col("table") == "silver.events").collect()
    found = {json.loads(r["row_json"])["event_id"]: r["rule"] for r in rows}
    return {e: found[e] for e in event_ids if e in found}


def _in_silver(lake: Lake, *event_ids: str) -> list[str]:
    rows = lake.read("silver.events").where(F.col("event_id").isin(*event_ids)).select("event_id").collect()
    return sorted(r[0] for r in rows)


def _funnel_dates(lake: Lake) -> set[dt.date]:
    return {r[0] for r in lake.read("gold.funnel_daily").select("event_date").collect()}


def test_a_future_event_is_rejected_kept_out_of_gold_and_out_of_freshness(spark, world_copy: Config) -> None:
    lake = _lake(spark, world_copy)
    # the newest event accepted so far, in UTC as the session writes it (not through Python's clock)
    newest_accepted = lake.read("silver.events").agg(F.date_format(F.max("event_ts"), "yyyy-MM-dd HH:mm")).first()[0]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=400)).replace(microsecond=0)
    too_early = dt.datetime(1999, 12, 31, 23, 0, tzinfo=dt.UTC)
    _land(world_copy, future.date(), [_event("future-1", future), _event("early-1", too_early)])

    summary = run_jobs(world_copy, lake, select_jobs(list(JOBS)))

    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    assert {r.job: r.outcome.note for r in summary.reports}["silver_events"].startswith("incremental")
    expected = {"future-1": "event_ts_in_future", "early-1": "event_ts_too_early"}
    assert _rejected(lake, "future-1", "early-1") == expected
    assert _in_silver(lake, "future-1", "early-1") == []
    assert not {future.date(), too_early.date()} & _funnel_dates(lake)
    # freshness is that of the newest event the table holds, months old at the run: a warning
    results = lake.read("ops.dq_results").where(F.col("run_id") == summary.run_id)
    fresh = results.where((F.col("table") == "silver.events") & (F.col("rule") == "source_freshness")).collect()
    assert [(r["passed"], r["observed_value"].split("(")[1]) for r in fresh] == [
        (False, f"newest {newest_accepted})")
    ]
    assert any("silver.events: source_freshness" in w for r in summary.reports for w in r.outcome.warnings)

    # a full rebuild and a backfill over those dates reject the same rows
    rebuilt = run_jobs(world_copy, lake, select_jobs(["silver_events", "gold_funnel_daily"]), full=True)
    assert not rebuilt.failed, [(r.job, r.error) for r in rebuilt.failed]
    assert _rejected(lake, "future-1", "early-1") == expected
    assert _in_silver(lake, "future-1", "early-1") == []
    for start, end in ((future.date(), future.date()), (too_early.date(), too_early.date())):
        filled = backfill(world_copy, lake, select_backfill_jobs(["silver_events", "gold_funnel_daily"]), start, end)
        assert not filled.failed, [(r.job, r.error) for r in filled.failed]
    assert _in_silver(lake, "future-1", "early-1") == []
    assert not {future.date(), too_early.date()} & _funnel_dates(lake)


def _readmit(config: Config, run_date: dt.date):
    args = ["--env", "test", "--engine", config.engine.kind, "--data-dir", str(config.data_dir),
            "dq", "readmit", "--table", "silver.events", "--rule", "event_ts_in_future"]
    return runner.invoke(app, args, env={"COLUMNS": "200", "LAKEHOUSE_PIPELINE__RUN_DATE": run_date.isoformat()})


def test_an_event_rejected_as_future_is_readmitted_once_its_time_has_come(spark, world_copy: Config,
                                                                          make_config) -> None:
    last_day = world_copy.generator.start_date + dt.timedelta(days=WORLD_DAYS - 1)
    later = dt.datetime.combine(last_day + dt.timedelta(days=10), dt.time(9, 0), tzinfo=dt.UTC)
    replay = make_config(world_copy.data_dir, **{"pipeline.run_date": last_day.isoformat()})
    lake = _lake(spark, replay)
    _land(replay, later.date(), [_event("later-1", later)])

    summary = run_jobs(replay, lake, select_jobs(list(JOBS)))

    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    assert _rejected(lake, "later-1") == {"later-1": "event_ts_in_future"}
    assert _in_silver(lake, "later-1") == [] and later.date() not in _funnel_dates(lake)

    early = _readmit(replay, last_day)  # still the world's last day: its time has not come
    assert early.exit_code == 0, early.output
    assert "1 rejected row(s); 0 admitted, 1 still rejected" in early.output
    assert _rejected(lake, "later-1") == {"later-1": "event_ts_in_future"}

    admitted = _readmit(replay, later.date())
    assert admitted.exit_code == 0, admitted.output
    assert "1 rejected row(s); 1 admitted, 0 still rejected" in admitted.output
    assert _rejected(lake, "later-1") == {}
    assert _in_silver(lake, "later-1") == ["later-1"]
    assert later.date() in _funnel_dates(lake)  # the jobs downstream ran
