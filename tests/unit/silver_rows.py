"""Helpers for silver unit tests: bronze rows with ingestion columns, frames by schema, rejects."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from lakehouse.clock import from_engine
from lakehouse.quality.event_time import TimeBounds
from lakehouse.quality.rules import REJECT_COLUMNS, Built

INGESTED = dt.datetime(2026, 1, 2, 0, 0, 0, tzinfo=dt.UTC)
INGESTION_DEFAULTS: dict[str, Any] = {"_ingested_at": INGESTED, "_source": "test", "_batch_id": "b1"}
# Event times the builders accept in tests that are not about those bounds: every row's time passes.
BOUNDS = TimeBounds(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 6, 1, tzinfo=dt.UTC))


def ts(text: str) -> dt.datetime:
    """'2026-01-01 10:00:00' → that instant in UTC (aware: a naive one would be read in the
    machine's zone, see lakehouse/clock.py). Compare it with collected values through `utc`."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)


def utc(value: Any) -> Any:
    """A collected value as compared with `ts`: timestamps as aware UTC, anything else as is."""
    return from_engine(value) if isinstance(value, dt.datetime) else value


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def bronze(spark: SparkSession, schema: StructType, rows: Sequence[Mapping[str, Any]]) -> DataFrame:
    """A bronze frame: each row a dict of the columns it sets; ingestion columns have defaults."""
    unknown = {k for row in rows for k in row} - set(schema.fieldNames())
    assert not unknown, f"columns not in the bronze schema: {unknown}"
    data = [tuple({**INGESTION_DEFAULTS, **row}.get(name) for name in schema.fieldNames()) for row in rows]
    return spark.createDataFrame(data, schema)


def frame(spark: SparkSession, schema: StructType, rows: Sequence[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(list(rows), schema)


def rejected(built: Built, *keys: str) -> list[tuple[Any, ...]]:
    """(table, rule, *values of `keys` in row_json) per reject, sorted; checks the rejects schema."""
    assert tuple(built.rejects.columns) == REJECT_COLUMNS
    assert {f.dataType.simpleString() for f in built.rejects.schema.fields} == {"string"}
    out = []
    for row in built.rejects.collect():
        record = json.loads(row["row_json"])
        out.append((row["table"], row["rule"], *(record.get(k) for k in keys)))
    return sorted(out, key=repr)


def reject_records(built: Built) -> list[dict[str, Any]]:
    return [json.loads(r["row_json"]) for r in built.rejects.collect()]
