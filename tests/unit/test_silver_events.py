"""silver.events: deduplication, ISO timestamps, and rejects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.bronze import events as bronze_events
from lakehouse.jobs.silver import first_landing
from lakehouse.quality.event_time import TimeBounds
from lakehouse.silver import events
from lakehouse.storage import Lake
from tests.unit.silver_rows import BOUNDS, bronze, day, frame, rejected, ts


def event(
    eid: str | None,
    ts_text: str | None,
    event_type: str | None = "page_view",
    session: str | None = "s1",
    page: str = "/",
    source: str = "date=2026-01-01/events-0001.jsonl",
    line: int = 1,
    ingested: int = 2,
    **extra: object,
) -> dict[str, object]:
    return {
        "event_id": eid,
        "session_id": session,
        "event_type": event_type,
        "ts": ts_text,
        "page": page,
        "device": "web",
        "_file_date": "2026-01-01",
        "_line_no": line,
        "_source": source,
        "_ingested_at": dt.datetime(2026, 1, ingested),
        **extra,
    }


BRONZE = [
    # e1 landed twice: the replay a day later loses
    event("e1", "2026-01-01T10:00:00Z", page="/first", line=3, customer_id=7),
    event("e1", "2026-01-01T10:00:00Z", page="/replay", line=1, ingested=3, customer_id=7),
    # e2 landed twice in the same batch: the lowest source wins
    event("e2", "2026-01-01T23:59:59Z", "add_to_cart", page="/b", source="b.jsonl", product_id=500),
    event("e2", "2026-01-01T23:59:59Z", "add_to_cart", page="/a", source="a.jsonl", product_id=500),
    event("e8", "2026-01-02T00:00:00Z", "search", query="milk"),
    # rejects
    event("e3", "2026-01-01T10:00:00Z", "purchase"),
    event("e4", "yesterday"),
    event("e5", "2026-01-01T10:00:00z"),
    event("e6", "2026-01-01T10:00:00Z", session=None),
    event("e7", "2026-01-01T10:00:00Z", session="  "),
    event("e9", "2026-01-01T10:00:00Z", event_type=None),
    event("e10", "2026-02-30T10:00:00Z", event_type="checkout"),
    event(None, "2026-01-01T10:00:00Z"),
]


def test_events_are_deduplicated_and_typed(spark: SparkSession) -> None:
    built = events.build_events(bronze(spark, bronze_events.SCHEMA, BRONZE), BOUNDS)
    expected = frame(
        spark,
        events.SPEC.schema,
        [
            ("e1", "s1", 7, "page_view", ts("2026-01-01 10:00:00"), day("2026-01-01"), "/first", None, None, "web"),
            ("e2", "s1", None, "add_to_cart", ts("2026-01-01 23:59:59"), day("2026-01-01"), "/a", 500, None, "web"),
            ("e8", "s1", None, "search", ts("2026-01-02 00:00:00"), day("2026-01-02"), "/", None, "milk", "web"),
        ],
    )
    assert_df_equality(built.rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_rejects(spark: SparkSession) -> None:
    built = events.build_events(bronze(spark, bronze_events.SCHEMA, BRONZE), BOUNDS)
    assert rejected(built, "event_id", "ts") == sorted(
        [
            ("silver.events", "event_type_unknown", "e3", "2026-01-01T10:00:00Z"),
            ("silver.events", "event_ts_invalid", "e4", "yesterday"),
            ("silver.events", "event_ts_invalid", "e5", "2026-01-01T10:00:00z"),
            ("silver.events", "session_id_missing", "e6", "2026-01-01T10:00:00Z"),
            ("silver.events", "session_id_missing", "e7", "2026-01-01T10:00:00Z"),
            ("silver.events", "event_type_unknown", "e9", "2026-01-01T10:00:00Z"),
            ("silver.events", "event_ts_invalid", "e10", "2026-02-30T10:00:00Z"),
            ("silver.events", "event_id_missing", None, "2026-01-01T10:00:00Z"),
        ],
        key=repr,
    )
    spec = events.SPEC
    assert (spec.name, spec.key, spec.partition_by) == ("silver.events", ("event_id",), ("event_date",))


@pytest.mark.parametrize("buckets", [3, 7])
def test_a_rebuild_in_buckets_of_keys_gives_the_whole_result(spark: SparkSession, tmp_path: Path,
                                                              buckets: int) -> None:
    """A full rebuild of a long history splits bronze in buckets of keys: each key's landings are
    in one bucket, so together the buckets keep the same first landings and rejects as one pass."""
    rows = BRONZE + [event(None, "2026-01-03T10:00:00Z", line=9)]  # a second row without a key: both rejected
    landed = bronze(spark, bronze_events.SCHEMA, rows)
    lake = Lake(spark, tmp_path)
    with lake.staging() as stage:
        split = list(lake.split_by_key(landed, events.SPEC.key, buckets, stage).values())
        assert 1 < len(split) <= buckets and sum(part.count() for part in split) == len(rows)
        parts = [first_landing(events.SPEC, events.build_from_first, part, bounds=BOUNDS) for part in split]
        whole = events.build_events(landed, BOUNDS)
        for side in ("rows", "rejects"):
            union = getattr(parts[0], side)
            for part in parts[1:]:
                union = union.unionByName(getattr(part, side))
            assert_df_equality(union, getattr(whole, side), ignore_row_order=True, ignore_nullable=True)


# Accepted: from 2000-01-01 to 2026-01-10 12:00 UTC, both included.
NARROW = TimeBounds(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC))
DATED = [
    event("t1", "2000-01-01T00:00:00Z"),  # the earliest time accepted
    event("t2", "2026-01-10T12:00:00Z"),  # the latest time accepted
    event("t3", "2026-01-10T12:00:01Z"),  # a second later
    event("t4", "2027-02-14T09:00:00Z"),  # 400 days on: a device clock set wrong
    event("t5", "1999-12-31T23:59:59Z"),  # a second before the earliest
    event("t6", "1970-01-01T00:00:00Z"),  # a clock reset to the epoch
    event("t7", "2027-02-14T09:00:00Z", session=None),  # also without a session: the rule listed first wins
    event("t8", "2027-02-30T09:00:00Z"),  # no such day: invalid, not in the future
]


def test_events_dated_in_the_future_or_too_early_are_rejected(spark: SparkSession) -> None:
    built = events.build_events(bronze(spark, bronze_events.SCHEMA, DATED), NARROW)
    assert sorted(r["event_id"] for r in built.rows.collect()) == ["t1", "t2"]
    assert rejected(built, "event_id", "ts") == sorted(
        [
            ("silver.events", "event_ts_in_future", "t3", "2026-01-10T12:00:01Z"),
            ("silver.events", "event_ts_in_future", "t4", "2027-02-14T09:00:00Z"),
            ("silver.events", "event_ts_too_early", "t5", "1999-12-31T23:59:59Z"),
            ("silver.events", "event_ts_too_early", "t6", "1970-01-01T00:00:00Z"),
            ("silver.events", "session_id_missing", "t7", "2027-02-14T09:00:00Z"),
            ("silver.events", "event_ts_invalid", "t8", "2027-02-30T09:00:00Z"),
        ],
        key=repr,
    )


def test_an_event_from_the_future_passes_once_its_time_has_come(spark: SparkSession) -> None:
    later = TimeBounds(NARROW.earliest, dt.datetime(2027, 2, 15, tzinfo=dt.UTC))
    built = events.build_events(bronze(spark, bronze_events.SCHEMA, DATED), later)
    assert sorted(r["event_id"] for r in built.rows.collect()) == ["t1", "t2", "t3", "t4"]
