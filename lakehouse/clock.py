"""One clock: instants are UTC wherever the process runs.

Sessions run with `spark.sql.session.timeZone=UTC`, but PySpark converts timestamps between the
engine and Python with the *process's* time zone: a naive `datetime` handed to the engine
(`F.lit`, rows of `createDataFrame`) is read as local time, and `collect()`/`first()` give
timestamps back as naive local wall-clock times (both Apache Spark's classic client and Spark
Connect; `toPandas()` and `toArrow()` follow the session's zone instead). On a machine whose zone
is not UTC, each of these shifts an instant by the zone's offset. Every datetime crossing that
boundary goes through the two functions here; the naive datetimes the project keeps itself
(ops tables written by delta-rs, run stamps) are UTC by convention.
"""

from __future__ import annotations

import datetime as dt
from typing import overload


@overload
def to_engine(value: dt.datetime) -> dt.datetime: ...
@overload
def to_engine(value: None) -> None: ...
def to_engine(value: dt.datetime | None) -> dt.datetime | None:
    """A datetime to hand to the engine: timezone-aware UTC (a naive one is taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@overload
def from_engine(value: dt.datetime) -> dt.datetime: ...
@overload
def from_engine(value: None) -> None: ...
def from_engine(value: dt.datetime | None) -> dt.datetime | None:
    """A timestamp collected from the engine, as timezone-aware UTC (a naive one is the process's
    local wall-clock time, which is what `collect()` gives)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """UTC wall-clock time without a zone, as the project's own tables keep it (naive: UTC)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
