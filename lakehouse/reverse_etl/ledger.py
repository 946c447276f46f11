"""The sync's record of itself, as Delta tables:

- `ops.sync_state`: per target and customer, what the target acknowledged (content hash, status
  `present`/`deleted`, the gold version it came from);
- `ops.sync_runs`: one row per sync (target, from/to gold version, inserts, updates, deletes, sent,
  failed, seconds);
- `ops.sync_dead_letter`: records that still failed after every retry, with the error and the
  request they were in (payload, batch, position); `resolved_at` is set when a replay delivers them.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.arrowio import write_parquet_part
from lakehouse.personal import PersonalData
from lakehouse.storage import Lake

STATE, RUNS, DEAD = "ops.sync_state", "ops.sync_runs", "ops.sync_dead_letter"
STATE_SCHEMA = StructType(
    [
        StructField("target", StringType()),
        StructField("customer_id", LongType()),
        StructField("content_hash", StringType()),
        StructField("status", StringType()),
        StructField("gold_version", LongType()),
        StructField("synced_at", TimestampType()),
    ]
)
RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType()),
        StructField("target", StringType()),
        StructField("from_version", LongType()),
        StructField("to_version", LongType()),
        StructField("inserts", LongType()),
        StructField("updates", LongType()),
        StructField("deletes", LongType()),
        StructField("sent", LongType()),
        StructField("failed", LongType()),
        StructField("duration_s", DoubleType()),
        StructField("mode", StringType()),
        StructField("started_at", TimestampType()),
    ]
)
DEAD_SCHEMA = StructType(
    [
        StructField("run_id", StringType()),
        StructField("target", StringType()),
        StructField("customer_id", LongType()),
        StructField("op", StringType()),
        StructField("content_hash", StringType()),
        StructField("payload", StringType()),  # the contact as sent (JSON), so a replay resends the same request
        StructField("batch_key", StringType()),
        StructField("position", LongType()),
        StructField("error", StringType()),
        StructField("failed_at", TimestampType()),
        StructField("resolved_at", TimestampType()),
    ]
)
# An erased customer's dead letter loses its payload (a replay then sends a delete: `Change` with
# no record) and its error text (a CRM may quote the contact in it).
DEAD_PERSONAL_DATA = PersonalData(DEAD, free_text={"payload": "NULL", "error": "'[erased]'"})


def state(lake: Lake, target: str) -> pd.DataFrame:
    if not lake.exists(STATE):
        return pd.DataFrame(columns=STATE_SCHEMA.fieldNames())
    return lake.read(STATE).where(F.col("target") == target).toPandas()


def last_version(lake: Lake, target: str) -> int | None:
    """The gold version of the last sync to `target`."""
    if not lake.exists(RUNS):
        return None
    rows = lake.rows(RUNS, [("target", "=", target)], ["to_version", "started_at"])
    last = max(rows, key=lambda r: r["started_at"]) if rows else None
    return int(last["to_version"]) if last and last["to_version"] is not None else None


def write_state(lake: Lake, target: str, frame: pd.DataFrame) -> None:
    """Replace `target`'s slice of ops.sync_state in one commit."""
    with lake.staging() as stage:
        write_parquet_part(frame, STATE_SCHEMA, stage / "part-0.parquet")
        rows = lake.spark.read.schema(STATE_SCHEMA).parquet(str(stage))
        lake.replace_where(rows, STATE, f"target = '{target}'", partition_by=["target"])


def dead_letters(lake: Lake, target: str, unresolved_only: bool = True) -> pd.DataFrame:
    if not lake.exists(DEAD):
        return pd.DataFrame(columns=DEAD_SCHEMA.fieldNames())
    frame = lake.read(DEAD).where(F.col("target") == target)
    if unresolved_only:
        frame = frame.where(F.col("resolved_at").isNull())
    return frame.toPandas()


def resolve_dead_letters(lake: Lake, target: str, customer_ids: list[int], at: dt.datetime) -> None:
    if customer_ids and lake.exists(DEAD):
        ids = ", ".join(str(int(c)) for c in customer_ids)
        stamp = at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
        lake.spark.sql(
            f"UPDATE delta.`{lake.path(DEAD)}` SET resolved_at = TIMESTAMP '{stamp}' "
            f"WHERE target = '{target}' AND resolved_at IS NULL AND customer_id IN ({ids})"
        )
