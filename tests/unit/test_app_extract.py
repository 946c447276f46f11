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


def test_a_null_in_a_timestamp_column_the_driver_typed_is_none() -> None:
    # PostgreSQL's timestamps come as datetimes, and pandas makes a column of them with a NULL
    # datetime64 with NaT
    created = pd.Series([pd.Timestamp("2026-01-02 03:04:05"), pd.NaT])
    updated = pd.Series([pd.Timestamp("2026-01-02 05:04:05+02:00"), pd.NaT])
    out = _normalised(list(created), list(updated))  # as objects
    typed = normalise(pd.DataFrame({"thing_id": [1, 2], "created_at": created, "updated_at": updated}), TABLE)
    for frame in (out, typed):
        assert frame["created_at"].tolist() == ["2026-01-02 03:04:05", None]
        assert frame["updated_at"].tolist() == ["2026-01-02 03:04:05", None]


def test_a_column_the_contract_does_not_name_is_kept_as_text_whatever_its_values() -> None:
    frame = pd.DataFrame({"thing_id": [1, 2, 3], "created_at": [None] * 3, "updated_at": [None] * 3,
                          "tags": [["a", "b"], None, 7]})
    out = normalise(frame, TABLE, ("tags",))
    assert out["tags"].tolist() == ["['a', 'b']", None, "7"]
