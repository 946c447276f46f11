"""Parsing raw records into bronze rows, and the ingestion columns every bronze row carries.

Pure functions: bytes or frames in, frames out. A record that cannot be parsed against its
table's fields becomes a quarantine entry with the raw text and the reason; nothing is dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
from pyspark.sql.types import (
    DataType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

Kind = Literal["str", "int", "float"]
_SPARK_TYPES: dict[Kind, DataType] = {"str": StringType(), "int": LongType(), "float": DoubleType()}
_PANDAS_TYPES: dict[Kind, str] = {"str": "object", "int": "Int64", "float": "float64"}
_KIND_NAMES: dict[Kind, str] = {"str": "string", "int": "integer", "float": "number"}

INGESTION_FIELDS = [
    StructField("_ingested_at", TimestampType()),
    StructField("_source", StringType()),
    StructField("_batch_id", StringType()),
]
# Column comments of the columns bronze adds (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
INGESTION_COMMENTS = {
    "_ingested_at": "when the record landed in bronze (UTC)",
    "_source": "where it came from: landing file, app table, API request or topic/partition/offset",
    "_batch_id": "the ingestion batch that landed it",
    "_line_no": "line of the record in its landing file (a streamed record: its offset)",
    "_file_date": "date folder of the landing file (a streamed reading: the date of its ts)",
    "_updated_date": "date of the app row's updated_at",
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = False


@dataclass(frozen=True)
class Rejected:
    """One record that could not be parsed."""

    source: str
    origin: str
    line_no: int
    raw: str
    reason: str


def spark_schema(fields: Sequence[Field], extra: Sequence[StructField] = ()) -> StructType:
    """The bronze table schema: the record's fields, extra columns, then the ingestion columns."""
    return StructType([StructField(f.name, _SPARK_TYPES[f.kind]) for f in fields] + list(extra) + INGESTION_FIELDS)


# Exact types: `type(True) is bool`, so booleans never pass as numbers.
_ACCEPTED: dict[Kind, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float)}


def _type_error(field: Field, value: Any) -> str:
    return f"field '{field.name}': expected {_KIND_NAMES[field.kind]}, got {type(value).__name__} {value!r:.40}"


# Integers bronze can hold (64-bit, like the tables' columns).
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def parse_record(raw: bytes | str, fields: Sequence[Field]) -> tuple[dict[str, Any] | None, str | None]:
    """Parse one JSON record: (record, None) or (None, reason). Hot path: one call per landed line.

    Bytes are parsed as they are (orjson checks their UTF-8 itself, no decoding copy first)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:  # a json.JSONDecodeError: msg and colno as usual
        if isinstance(raw, bytes):
            bad_utf8 = _invalid_utf8(raw)
            if bad_utf8 is not None:
                return None, bad_utf8
        return None, f"malformed JSON: {exc.msg} (column {exc.colno})"
    if type(value) is not dict:
        return None, f"not a JSON object: {type(value).__name__}"
    record: dict[str, Any] = {}
    for field in fields:
        item = value.get(field.name)
        if item is None:
            if field.required:
                return None, f"missing required field '{field.name}'"
        elif type(item) not in _ACCEPTED[field.kind]:
            return None, _type_error(field, item)
        elif field.kind == "int" and not _INT_MIN <= item <= _INT_MAX:
            return None, f"field '{field.name}': integer {item} does not fit in 64 bits"
        elif field.kind == "float" and type(item) is int:
            item = float(item)  # the nearest double, as a columnar read gives (past 2**53 not exact)
        record[field.name] = item
    return record, None


def _invalid_utf8(raw: bytes) -> str | None:
    """The reason a record's bytes are not UTF-8 text, or None when they are."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"invalid UTF-8: byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} "
                "(raw shows undecodable bytes as \\xNN)")
    return None


def raw_text(raw: bytes) -> str:
    """A record's bytes as quarantine keeps them: UTF-8 text, an undecodable byte as `\\xNN`."""
    return raw.decode("utf-8", errors="backslashreplace")


def parse_json_lines(
    content: bytes, fields: Sequence[Field], source: str, origin: str, first_line: int = 1
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Split JSON lines into parsed records (with `_line_no`) and rejected lines.

    Lines end at `\\n` only (a `\\r` before it is dropped): a U+2028 or U+0085 inside a JSON
    string is part of its value. `content` is UTF-8 without a byte order mark
    (`lakehouse.sources.landing.decoded`); a line that is not valid UTF-8 is rejected on its own,
    never altered. Lines are numbered from `first_line` (an appended part continues its file's)."""
    records: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for line_no, raw in enumerate(content.split(b"\n"), start=first_line):
        if raw[-1:] == b"\r":
            raw = raw[:-1]
        if not raw or raw.isspace():
            continue
        record, reason = parse_record(raw, fields)
        if record is None:
            rejected.append(Rejected(source, origin, line_no, raw_text(raw), reason or "unparseable"))
        else:
            record["_line_no"] = line_no
            records.append(record)
    return records, rejected


def records_table(records: Sequence[dict[str, Any]], schema: pa.Schema, constants: dict[str, Any]) -> pa.Table:
    """Parsed records as an Arrow table of `schema` (`with_constants`). Straight to Arrow: a
    landed file's rows never pass through pandas."""
    from_records = pa.schema([f for f in schema if f.name not in constants])
    return with_constants(pa.Table.from_pylist(list(records), schema=from_records), schema, constants)


def with_constants(parsed: pa.Table, schema: pa.Schema, constants: dict[str, Any]) -> pa.Table:
    """An Arrow table of `schema`: each column from `parsed`, or one value for every row from
    `constants` (the file's date, the ingestion columns)."""
    count = parsed.num_rows
    columns = [
        _repeated(constants[f.name], f.type, count) if f.name in constants else parsed.column(f.name).cast(f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _repeated(value: Any, kind: pa.DataType, count: int) -> pa.Array:
    """`value` `count` times, without a Python list of it."""
    return pa.array([value], type=kind).take(pa.array(np.zeros(count, dtype=np.int32)))


def records_frame(records: Iterable[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """A pandas frame with the given (column, pandas dtype) layout, empty-safe."""
    frame = pd.DataFrame.from_records(list(records), columns=[name for name, _ in columns])
    for name, dtype in columns:
        frame[name] = frame[name].astype(dtype) if dtype != "object" else frame[name].astype("object")
        if dtype == "object":
            frame[name] = frame[name].where(frame[name].notna(), None)
    return frame


def field_dtypes(fields: Sequence[Field]) -> list[tuple[str, str]]:
    return [(f.name, _PANDAS_TYPES[f.kind]) for f in fields]


def with_ingestion_columns(
    frame: pd.DataFrame, source: str | pd.Series, batch_id: str, ingested_at: dt.datetime
) -> pd.DataFrame:
    """Add `_ingested_at`, `_source`, `_batch_id` (naive UTC timestamp, as Spark expects)."""
    out = frame.copy()
    naive = ingested_at.astimezone(dt.UTC).replace(tzinfo=None) if ingested_at.tzinfo else ingested_at
    out["_ingested_at"] = pd.Series([naive] * len(out), dtype="datetime64[us]", index=out.index)
    out["_source"] = source if isinstance(source, pd.Series) else pd.Series([source] * len(out), index=out.index)
    out["_source"] = out["_source"].astype("object")
    out["_batch_id"] = pd.Series([batch_id] * len(out), dtype="object", index=out.index)
    return out
