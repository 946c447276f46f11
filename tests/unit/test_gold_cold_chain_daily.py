"""gold.cold_chain_daily on inline readings, expected values worked out by hand (limit 8.0, 5-minute interval)."""

from __future__ import annotations

import datetime as dt

from chispa import assert_approx_df_equality

from lakehouse.gold.cold_chain_daily import build_cold_chain_daily

READINGS = "device_id string, seq bigint, reading_ts timestamp, reading_date date, temperature_c double"
OUT = "reading_date date, device_id string, readings bigint, min_temp_c double, max_temp_c double, " \
      "minutes_above_limit double, excursions bigint"
D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


def _at(day: dt.date, hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss)


def test_minutes_and_excursions_including_a_run_across_midnight_and_a_gap(spark) -> None:
    rows = [
        # van-1, day 1: 4.0 | 9.0 (5 min) | 8.5 (3 min: next reading comes after 3) | 8.0 at the limit: not above
        ("van-1", 1, _at(D1, 10, 0), D1, 4.0),
        ("van-1", 2, _at(D1, 10, 5), D1, 9.0),
        ("van-1", 3, _at(D1, 10, 10), D1, 8.5),
        ("van-1", 4, _at(D1, 10, 13), D1, 8.0),
        # a run starting 23:55 on day 1 and going on after midnight: counted once, on day 1
        ("van-1", 5, _at(D1, 23, 55), D1, 10.0),  # 5 min on day 1
        ("van-1", 6, _at(D2, 0, 0), D2, 11.0),  # 5 min on day 2, same run
        # silence of 60 min (> 3 intervals) breaks the run: a new excursion on day 2
        ("van-1", 7, _at(D2, 1, 0), D2, 12.0),  # last reading: counts the 5-minute interval
        # van-2: never above the limit; a reading out of order in the input
        ("van-2", 2, _at(D1, 8, 5), D1, 3.0),
        ("van-2", 1, _at(D1, 8, 0), D1, 5.0),
    ]
    expected = [
        # van-1 D1: readings 5, min 4.0, max 10.0, minutes 5 + 3 + 5 = 13, excursions: at 10:05 and 23:55 = 2
        (D1, "van-1", 5, 4.0, 10.0, 13.0, 2),
        # van-1 D2: readings 2, minutes 5 + 5 = 10, excursions: the 01:00 one only = 1
        (D2, "van-1", 2, 11.0, 12.0, 10.0, 1),
        (D1, "van-2", 2, 3.0, 5.0, 0.0, 0),
    ]
    actual = build_cold_chain_daily(spark.createDataFrame(rows, READINGS), limit_c=8.0, interval_minutes=5)
    assert_approx_df_equality(actual, spark.createDataFrame(expected, OUT), 1e-9, ignore_row_order=True,
                              ignore_nullable=True)


def test_a_long_gap_after_a_warm_reading_is_capped_at_one_interval(spark) -> None:
    rows = [("wh-1", 1, _at(D1, 12, 0), D1, 9.5), ("wh-1", 2, _at(D1, 14, 0), D1, 9.5)]
    actual = build_cold_chain_daily(spark.createDataFrame(rows, READINGS), limit_c=8.0, interval_minutes=5)
    # each warm reading stands for at most 5 minutes; the 2-hour silence breaks the run: 2 excursions
    expected = spark.createDataFrame([(D1, "wh-1", 2, 9.5, 9.5, 10.0, 2)], OUT)
    assert_approx_df_equality(actual, expected, 1e-9, ignore_nullable=True)
