"""Extract rows from the application database (SQLite by default, PostgreSQL by URL).

Extraction is incremental by a change column (`updated_at`, or `requested_at` for erasure
requests): rows at or after the last watermark, in watermark order. The bound is inclusive so that
a change stamped in the watermark's own second is never skipped; the rows bronze already holds are
dropped by the ingestion (`lakehouse.ingest`). Timestamps are normalised
to UTC text `YYYY-MM-DD HH:MM:SS`, whichever database they come from.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, inspect, text
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lakehouse.sources.app_contract import AppTable

log = logging.getLogger(__name__)


class SourceUnavailable(RuntimeError):
    """A source could not be read; the message names the source and the cause."""


class SourceTypeChanged(ValueError):
    """A column's values no longer parse as the kind the contract gives it."""

    def __init__(self, table: str, column: str, kind: str, example: object) -> None:
        self.table, self.column, self.kind, self.example = table, column, kind, example
        super().__init__(f"{table}.{column}: {kind} expected, found {example!r}")


def _kind(sql_type: object) -> str:
    if isinstance(sql_type, sqltypes.Integer):
        return "integer"
    if isinstance(sql_type, sqltypes.Numeric | sqltypes.Float):  # REAL, DOUBLE, NUMERIC
        return "real"
    if isinstance(sql_type, sqltypes.DateTime | sqltypes.Date):
        return "timestamp"
    if isinstance(sql_type, sqltypes.String):  # Text, VARCHAR
        return "text"
    return type(sql_type).__name__.lower()


def column_kinds(engine: Engine, table: AppTable) -> dict[str, str]:
    """The table's columns and the kind of each declared type, from the database catalog."""
    try:
        columns = inspect(engine).get_columns(table.name)
    except Exception as exc:  # the driver's error types differ per database
        raise SourceUnavailable(f"app database table '{table.name}': {exc}".splitlines()[0]) from exc
    return {c["name"]: _kind(c["type"]) for c in columns}


def connect(url: str) -> Engine:
    return create_engine(url, future=True)


def _missing(value: object) -> bool:
    """NULL as a driver or pandas gives it: None, NaN, NaT (a NULL in a timestamp column)."""
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _as_text_timestamp(value: object) -> str | None:
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _text(values: pd.Series) -> pd.Series:
    """Text values as they are, a missing one as None."""
    return values.astype("object").where(values.notna(), None)


def _text_timestamps(values: pd.Series) -> pd.Series:
    """`_as_text_timestamp` of each value; text (SQLite's timestamps) is kept as it is, at once."""
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        return _text(values)
    return values.map(_as_text_timestamp).astype("object")


def _numeric(frame: pd.DataFrame, table: AppTable, column: str, kind: str) -> pd.Series:
    parsed = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column].notna() & parsed.isna()
    if kind == "integer":
        bad |= parsed.notna() & (parsed % 1 != 0)
    if bad.any():
        raise SourceTypeChanged(table.name, column, kind, frame.loc[bad, column].iloc[0])
    return parsed


def normalise(frame: pd.DataFrame, table: AppTable, extra_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Give an extracted frame the bronze types: Int64 ids, float reals, text timestamps; columns
    the contract does not name (`extra_columns`) are kept as text."""
    out = frame.reindex(columns=[*table.columns, *extra_columns])
    for column in table.integer_columns:
        out[column] = _numeric(out, table, column, "integer").astype("Int64")
    for column in table.real_columns:
        out[column] = _numeric(out, table, column, "real").astype("float64")
    for column in extra_columns:
        out[column] = out[column].map(lambda v: None if _missing(v) else str(v)).astype("object")
    for column in table.timestamp_columns:
        out[column] = _text_timestamps(out[column])
    text_columns = set(table.columns) - set(table.integer_columns) - set(table.real_columns)
    for column in text_columns - set(table.timestamp_columns):
        out[column] = _text(out[column])
    return out


def extract_changes(
    engine: Engine, table: AppTable, since: str | None, extra_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Rows of `table` changed at or after `since` (all rows when None), ordered by the change column."""
    columns = ", ".join([*table.columns, *extra_columns])
    query = f"SELECT {columns} FROM {table.name}"
    params: dict[str, object] = {}
    if since is not None:
        query += f" WHERE {table.change_column} >= :since"
        params["since"] = since
    query += f" ORDER BY {table.change_column}"
    try:
        # not streamed: a streamed result has taken its first row off the cursor already
        with engine.connect().execution_options(stream_results=False) as connection:
            result = connection.execute(text(query), params)
            names, rows = list(result.keys()), _fetched(result.cursor)
    except Exception as exc:  # the driver's error types differ per database
        cause = str(exc) if isinstance(exc, SQLAlchemyError) else f"({type(exc).__module__}.{type(exc).__name__}) {exc}"
        raise SourceUnavailable(f"app database table '{table.name}': {cause}".splitlines()[0]) from exc
    # what pandas.read_sql_query makes of the same rows (given them as SQLAlchemy Row objects, 1.3x the time)
    frame = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    log.info("extracted %d changed rows from %s", len(frame), table.name)
    return normalise(frame, table, extra_columns)


FETCH_ROWS = 100_000  # rows taken from the driver's cursor at a time


def _fetched(cursor: Any) -> list[tuple]:
    """Every row of a DB-API `cursor`, as the driver's tuples."""
    rows: list[tuple] = []
    while chunk := cursor.fetchmany(FETCH_ROWS):
        rows.extend(chunk)
    return rows


def count_unstamped(engine: Engine, table: AppTable) -> int:
    """Rows whose change column is null: an incremental extract can never read them."""
    query = f"SELECT count(*) FROM {table.name} WHERE {table.change_column} IS NULL"
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(query)).scalar_one())
    except Exception as exc:  # the driver's error types differ per database
        raise SourceUnavailable(f"app database table '{table.name}': {exc}".splitlines()[0]) from exc
