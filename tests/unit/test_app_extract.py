"""An extract's timestamps become UTC text `YYYY-MM-DD HH:MM:SS`, whatever the driver returned:
SQLite's text as it is (taken whole), PostgreSQL's datetimes converted, a mix value by value."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from lakehouse.sources.app_contract import AppTable
from lakehouse.sources.app_db import normalise

TABLE = AppTable("things", ("thing_id", "created_at", "updated_at"), "updated_at", ("thing_id",),
                 integer_columns=("thing_id",), timestamp_columns=("created_at", "updated_at"))
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


def _normalised(created: list[object], updated: list[object]) -> pd.DataFrame:
    frame = pd.DataFrame({"thing_id": range(1, len(created) + 1), "created_at": created, "updated_at": updated})
    return normalise(frame, TABLE)


def test_text_timestamps_are_kept_and_missing_ones_are_none() -> None:
    out = _normalised(["2026-01-02 03:04:05", None, "2026-01-03 00:00:00"], ["2026-01-05 10:00:00"] * 3)
    assert out["created_at"].tolist() == ["2026-01-02 03:04:05", None, "2026-01-03 00:00:00"]
    assert out["created_at"].dtype == object and out["updated_at"].dtype == object


def test_datetimes_and_a_mix_become_utc_text_value_by_value() -> None:
    aware = dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=PLUS_TWO)  # 03:04:05 UTC
    naive = dt.datetime(2026, 1, 2, 3, 4, 5)
    out = _normalised([aware, naive, None], ["2026-01-05 10:00:00", naive, None])
    assert out["created_at"].tolist() == ["2026-01-02 03:04:05", "2026-01-02 03:04:05", None]
    assert out["updated_at"].tolist() == ["2026-01-05 10:00:00", "2026-01-02 03:04:05", None]
