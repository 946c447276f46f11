"""silver.telemetry: deduplication on (device_id, seq), ranges, and rejects."""

from __future__ import annotations

import datetime as dt
import math

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.bronze import telemetry as bronze_telemetry
from lakehouse.quality.event_time import TimeBounds
from lakehouse.silver import telemetry
from tests.unit.silver_rows import BOUNDS, bronze, day, frame, rejected, ts


def reading(
    device: str | None,
    seq: int | None,
    ts_text: str,
    temp: float | None = 4.0,
    humidity: float | None = 50.0,
    battery: float | None = 90.0,
    ingested: int = 2,
    source: str = "fleet.telemetry/0/1",
) -> dict[str, object]:
    return {
        "device_id": device,
        "seq": seq,
        "ts": ts_text,
        "temperature_c": temp,
        "humidity": humidity,
        "battery_pct": battery,
        "_file_date": ts_text[:10],
        "_line_no": None,
        "_source": source,
        "_ingested_at": dt.datetime(2026, 1, ingested),
    }


BRONZE = [
    reading("van-1", 1, "2026-01-01T10:00:00Z", temp=4.5),
    reading("van-1", 1, "2026-01-01T10:00:00Z", temp=4.6, ingested=3),  # redelivered: first landing wins
    reading("van-1", 8, "2026-01-01T09:00:00Z", temp=3.0, ingested=3),  # late and out of order: kept
    reading("van-2", 1, "2026-01-01T23:59:59Z", temp=60.0, humidity=0.0, battery=100.0),  # at the limits
    reading("van-2", 2, "2026-01-02T00:00:00Z", temp=-40.0, humidity=None, battery=None),  # optional values
    # rejects
    reading("van-1", 2, "2026-01-01T10:05:00Z", temp=999.0),
    reading("van-1", 3, "2026-01-01T10:10:00Z", temp=math.nan),
    reading("van-1", 4, "2026-01-01T10:15:00Z", temp=None),
    reading("van-1", 5, "2026-01-01T10:20:00Z", humidity=100.5),
    reading("van-1", 6, "2026-01-01T10:25:00Z", battery=-1.0),
    reading("van-1", 7, "2026-01-01 10:30:00", temp=999.0),  # bad time is named before the bad value
    reading("van-1", None, "2026-01-01T10:35:00Z"),
    reading("", 9, "2026-01-01T10:40:00Z"),
]


def test_readings_are_deduplicated_and_typed(spark: SparkSession) -> None:
    built = telemetry.build_telemetry(bronze(spark, bronze_telemetry.SCHEMA, BRONZE), BOUNDS)
    expected = frame(
        spark,
        telemetry.SPEC.schema,
        [
            ("van-1", 1, ts("2026-01-01 10:00:00"), day("2026-01-01"), 4.5, 50.0, 90.0),
            ("van-1", 8, ts("2026-01-01 09:00:00"), day("2026-01-01"), 3.0, 50.0, 90.0),
            ("van-2", 1, ts("2026-01-01 23:59:59"), day("2026-01-01"), 60.0, 0.0, 100.0),
            ("van-2", 2, ts("2026-01-02 00:00:00"), day("2026-01-02"), -40.0, None, None),
        ],
    )
    assert_df_equality(built.rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_rejects(spark: SparkSession) -> None:
    built = telemetry.build_telemetry(bronze(spark, bronze_telemetry.SCHEMA, BRONZE), BOUNDS)
    assert rejected(built, "device_id", "seq") == sorted(
        [
            ("silver.telemetry", "temperature_out_of_range", "van-1", 2),
            ("silver.telemetry", "temperature_out_of_range", "van-1", 3),
            ("silver.telemetry", "temperature_out_of_range", "van-1", 4),
            ("silver.telemetry", "humidity_out_of_range", "van-1", 5),
            ("silver.telemetry", "battery_out_of_range", "van-1", 6),
            ("silver.telemetry", "reading_ts_invalid", "van-1", 7),
            ("silver.telemetry", "seq_missing", "van-1", None),
            ("silver.telemetry", "device_id_missing", "", 9),
        ],
        key=repr,
    )
    nan_row = built.rejects.where("rule = 'temperature_out_of_range' AND row_json LIKE '%\"seq\":3%'").first()
    assert nan_row is not None and '"temperature_c":"NaN"' in nan_row["row_json"]
    spec = telemetry.SPEC
    assert (spec.name, spec.key, spec.partition_by) == (
        "silver.telemetry",
        ("device_id", "seq"),
        ("reading_date",),
    )


def test_readings_dated_in_the_future_or_too_early_are_rejected(spark: SparkSession) -> None:
    bounds = TimeBounds(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC))
    rows = [
        reading("van-9", 1, "2000-01-01T00:00:00Z"),  # the earliest time accepted
        reading("van-9", 2, "2026-01-10T12:00:00Z"),  # the latest time accepted
        reading("van-9", 3, "2026-01-10T12:00:01Z"),  # a second later
        reading("van-9", 4, "2027-02-14T09:00:00Z"),  # 400 days on
        reading("van-9", 5, "1999-12-31T23:59:59Z"),  # a second before the earliest
        reading("van-9", 6, "1970-01-01T00:00:00Z"),  # a sensor clock reset to the epoch
        reading("van-9", 7, "2027-02-14T09:00:00Z", temp=999.0),  # also out of range: the rule listed first wins
    ]
    built = telemetry.build_telemetry(bronze(spark, bronze_telemetry.SCHEMA, rows), bounds)
    assert sorted(r["seq"] for r in built.rows.collect()) == [1, 2]
    assert rejected(built, "seq", "ts") == sorted(
        [
            ("silver.telemetry", "reading_ts_in_future", 3, "2026-01-10T12:00:01Z"),
            ("silver.telemetry", "reading_ts_in_future", 4, "2027-02-14T09:00:00Z"),
            ("silver.telemetry", "reading_ts_too_early", 5, "1999-12-31T23:59:59Z"),
            ("silver.telemetry", "reading_ts_too_early", 6, "1970-01-01T00:00:00Z"),
            ("silver.telemetry", "temperature_out_of_range", 7, "2027-02-14T09:00:00Z"),
        ],
        key=repr,
    )
