"""Land Kafka messages in bronze.telemetry exactly once, whichever engine reads them.

The offsets live in the Delta table itself: every landed row's `_source` is
`fleet.telemetry/<partition>/<offset>`, so the highest landed offset per partition is where a
restarted consumer resumes, and a message at or below it is never landed again. A reading already
landed from the stream (same `device_id, seq`, the device sent it twice) is dropped. Unparseable
values go to bronze.quarantine, keyed by their topic/partition/offset: a re-read batch replaces its
quarantine rows instead of adding them again. Quarantine is written before the telemetry commit
that moves the offsets, so a crash between the two is repaired by the re-read. Only a batch
holding an offset at or below the highest one already quarantined can be such a re-read, so only
then is the `DELETE` run (on the JVM it was a Delta job of its own for every micro-batch).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze import quarantine, telemetry
from lakehouse.bronze.records import (
    Rejected,
    field_dtypes,
    parse_record,
    raw_text,
    records_frame,
    with_ingestion_columns,
)
from lakehouse.sources.landing import UTF8_BOM
from lakehouse.storage import Lake

TOPIC = "fleet.telemetry"
PREFIX = f"{TOPIC}/"


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    value: bytes | str | None  # str when the engine decoded it already (Spark's Kafka source, cast)
    timestamp_ms: int = 0  # when it was produced (latency measurements)

    @property
    def origin(self) -> str:
        return f"{PREFIX}{self.partition}/{self.offset}"


@dataclass
class StreamState:
    """Where each partition was landed up to, and the stream's readings seen so far."""

    offsets: dict[int, int] = field(default_factory=dict)
    seen: set[tuple[str, int]] = field(default_factory=set)
    quarantined: dict[int, int] = field(default_factory=dict)  # the highest offset quarantined, per partition


@dataclass(frozen=True)
class Landed:
    records: int
    duplicates: int
    quarantined: int
    skipped: int  # messages at or below the landed offsets (a replay after a restart)


def _highest_offsets(located: DataFrame) -> dict[int, int]:
    return {r["p"]: int(r["m"]) for r in located.groupBy("p").agg(F.max("o").alias("m")).collect()}


def _from_stream(lake: Lake, table: str) -> DataFrame:
    """Rows of `table` that came from the topic, with their partition `p` and offset `o`."""
    parts = F.split(F.col("_source"), "/")
    rows = lake.read(table).where(F.col("_source").startswith(PREFIX))
    return rows.withColumn("p", parts[1].cast("int")).withColumn("o", parts[2].cast("long"))


def load_state(lake: Lake) -> StreamState:
    """The offsets and readings already in bronze.telemetry from the stream, and how far the
    stream's quarantined values reach."""
    state = StreamState()
    if lake.exists(quarantine.TABLE):
        state.quarantined = _highest_offsets(_from_stream(lake, quarantine.TABLE))
    if lake.exists(telemetry.TABLE):
        located = _from_stream(lake, telemetry.TABLE).select("device_id", "seq", "p", "o")
        state.offsets = _highest_offsets(located)
        state.seen = {(r["device_id"], int(r["seq"])) for r in located.select("device_id", "seq").toLocalIterator()}
    return state


def batch_id(messages: Sequence[Message]) -> str:
    spans: dict[int, list[int]] = {}
    for m in messages:
        spans.setdefault(m.partition, []).append(m.offset)
    text = ";".join(f"{p}:{min(o)}-{max(o)}" for p, o in sorted(spans.items()))
    return hashlib.sha256(f"{TOPIC}|{text}".encode()).hexdigest()[:20]


def _value(value: bytes | str | None) -> bytes | str:
    """A message's value as its record: one message is one record, whatever line breaks it holds.
    Bytes are parsed as they are (invalid UTF-8 is rejected with the reason, never replaced); a
    leading UTF-8 byte order mark is dropped, as from a landed file."""
    if value is None:
        return b""
    if isinstance(value, str):
        return value.removeprefix("\ufeff")
    return value.removeprefix(UTF8_BOM)


def _split(messages: Sequence[Message], state: StreamState) -> tuple[list[dict], list[Rejected], int]:
    records, rejected, duplicates = [], [], 0
    for m in messages:
        raw = _value(m.value)
        record, reason = parse_record(raw, telemetry.FIELDS)
        if record is None:
            text = raw if isinstance(raw, str) else raw_text(raw)
            rejected.append(Rejected("kafka", m.origin, m.offset, text, reason or "unparseable"))
            continue
        key = (record["device_id"], int(record["seq"]))
        if key in state.seen:
            duplicates += 1
            continue
        state.seen.add(key)
        record.update(_line_no=m.offset, _file_date=str(record["ts"])[:10], _origin=m.origin)
        records.append(record)
    return records, rejected, duplicates


def land(lake: Lake, messages: Sequence[Message], state: StreamState, at: dt.datetime) -> Landed:
    """Land one micro-batch (see the module docstring); `state` moves forward with it."""
    fresh = [m for m in messages if m.offset > state.offsets.get(m.partition, -1)]
    if not fresh:
        return Landed(0, 0, 0, len(messages))
    batch = batch_id(fresh)
    records, rejected, duplicates = _split(fresh, state)
    if rejected:
        bad = {r.origin for r in rejected}
        spots = [(m.partition, m.offset) for m in fresh if m.origin in bad]
        if any(o <= state.quarantined.get(p, -1) for p, o in spots):  # a re-read: replace, never add twice
            origins = ", ".join(f"'{r.origin}'" for r in rejected)
            lake.delete_where(quarantine.TABLE, f"_source IN ({origins})")
        frame, sources = quarantine.quarantine_frame(rejected)
        rows = with_ingestion_columns(frame, sources, batch, at)
        lake.append_pandas(rows, quarantine.SCHEMA, quarantine.TABLE)
        for p, o in spots:
            state.quarantined[p] = max(o, state.quarantined.get(p, -1))
    if records:
        columns = field_dtypes(telemetry.FIELDS) + [("_file_date", "object"), ("_line_no", "Int64")]
        frame = records_frame(records, columns)
        origins = pd.Series([r["_origin"] for r in records], dtype="object")
        rows = with_ingestion_columns(frame, origins, batch, at)
        lake.append_pandas(rows, telemetry.SCHEMA, telemetry.TABLE, telemetry.PARTITION_BY)
    for m in fresh:  # the commit above holds these offsets
        state.offsets[m.partition] = max(m.offset, state.offsets.get(m.partition, -1))
    return Landed(len(records), duplicates, len(rejected), len(messages) - len(fresh))
