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

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.arrowio import arrow_schema
from lakehouse.bronze import quarantine, telemetry
from lakehouse.bronze.jsonl import parse_json_table, parsed_schema
from lakehouse.bronze.records import Rejected, parse_record, raw_text, with_constants, with_ingestion_columns
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


def _as_lines(values: Sequence[bytes | str]) -> bytes | None:
    """The values as JSON lines, one a message, when each is one non-blank line of UTF-8 bytes (a
    value of another kind is parsed on its own, as it stands)."""
    lines = []
    for value in values:
        if isinstance(value, str):
            try:
                value = value.encode()
            except UnicodeEncodeError:  # a lone surrogate: its own reason, from its own parse
                return None
        if b"\n" in value or b"\r" in value or not value.strip():
            return None
        lines.append(value)
    return b"\n".join(lines)


def _parse(messages: Sequence[Message]) -> tuple[pa.Table, list[Rejected]]:
    """The messages' readings (`_line_no`: the message's place in `messages`) and their rejects,
    columnar when the values are plain lines (`parse_json_table`), else one message at a time."""
    values = [_value(m.value) for m in messages]
    lines = _as_lines(values)
    if lines is not None:
        parsed, bad = parse_json_table(lines, telemetry.FIELDS, "kafka", "", first_line=0)
        rejected = [Rejected("kafka", messages[r.line_no].origin, messages[r.line_no].offset, r.raw, r.reason)
                    for r in bad]
        return parsed, rejected
    records, rejected = [], []
    for at, (m, raw) in enumerate(zip(messages, values, strict=True)):
        record, reason = parse_record(raw, telemetry.FIELDS)
        if record is None:
            text = raw if isinstance(raw, str) else raw_text(raw)
            rejected.append(Rejected("kafka", m.origin, m.offset, text, reason or "unparseable"))
        else:
            records.append({**record, "_line_no": at})
    return pa.Table.from_pylist(records, schema=parsed_schema(telemetry.FIELDS)), rejected


def _first_seen(parsed: pa.Table, state: StreamState) -> pa.Table:
    """The readings not seen before (`device_id, seq`), the first of a pair within the batch."""
    keep = []
    for device, seq in zip(parsed.column("device_id").to_pylist(), parsed.column("seq").to_pylist(), strict=True):
        key = (device, int(seq))
        keep.append(key not in state.seen)
        state.seen.add(key)
    return parsed.filter(pa.array(keep, pa.bool_()))


def _rows(readings: pa.Table, messages: Sequence[Message], batch: str, at: dt.datetime) -> pa.Table:
    """bronze.telemetry rows: a reading's date from its `ts`, its offset as `_line_no`, its
    topic/partition/offset as `_source`."""
    places = readings.column("_line_no").to_numpy()
    offsets = pa.array([messages[i].offset for i in places], pa.int64())
    origins = pa.array([messages[i].origin for i in places], pa.string())
    dates = pa.array([ts[:10] for ts in readings.column("ts").to_pylist()], pa.string())
    columns = {**{n: readings.column(n) for n in readings.column_names}, "_line_no": offsets,
               "_file_date": dates, "_source": origins}
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # naive: UTC, as elsewhere
    return with_constants(pa.table(columns), arrow_schema(telemetry.SCHEMA),
                          {"_ingested_at": at.astimezone(dt.UTC), "_batch_id": batch})


def land(lake: Lake, messages: Sequence[Message], state: StreamState, at: dt.datetime) -> Landed:
    """Land one micro-batch (see the module docstring); `state` moves forward with it."""
    fresh = [m for m in messages if m.offset > state.offsets.get(m.partition, -1)]
    if not fresh:
        return Landed(0, 0, 0, len(messages))
    batch = batch_id(fresh)
    parsed, rejected = _parse(fresh)
    readings = _first_seen(parsed, state)
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
    if readings.num_rows:
        lake.append_arrow(_rows(readings, fresh, batch, at), telemetry.TABLE, telemetry.PARTITION_BY)
    for m in fresh:  # the commit above holds these offsets
        state.offsets[m.partition] = max(m.offset, state.offsets.get(m.partition, -1))
    duplicates = parsed.num_rows - readings.num_rows
    return Landed(readings.num_rows, duplicates, len(rejected), len(messages) - len(fresh))
