"""How `lakehouse sql` prints a result (an Arrow table): a table for people, CSV, or JSON lines.

- JSON: one object per row; dates as `2026-04-30`, timestamps as `2026-04-30T10:00:00Z` (the
  session's time zone is UTC), decimals as numbers with their own digits (`12.50`), never through
  a float; NaN and infinities as null.
- Table: floats rounded to 6 decimals with trailing zeros dropped (`0.333333`, `196599.98`), very
  small or large ones in scientific notation; decimals, dates and timestamps as written.
- CSV: every value as pandas writes it (floats in full).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa


def _without_zone(table: pa.Table) -> pa.Table:
    """Timestamps with a zone as their UTC wall clock, without it (how the session shows them)."""
    fields = [
        pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type) and f.type.tz else f for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def json_lines(table: pa.Table) -> str:
    """One JSON object per row, each on its own line."""
    options = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS
    return "".join(
        orjson.dumps(row, default=_json_default, option=options).decode() + "\n" for row in table.to_pylist()
    )


def csv_text(table: pa.Table) -> str:
    return str(_without_zone(table).to_pandas().to_csv(index=False))


def float_text(value: float) -> str:
    """A float for people: at most 6 decimals, trailing zeros dropped; scientific notation below
    0.0001 or from 10^15 on."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-4 or abs(value) >= 1e15):
        return f"{value:.6g}"
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def cell_text(value: Any) -> str:
    """One value of the table format."""
    if value is None:
        return ""
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return str(value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value)
    return str(value)


def table_cells(table: pa.Table) -> list[list[str]]:
    """The rows of the table format, each value as `cell_text` writes it."""
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [[cell_text(column[row]) for column in columns] for row in range(table.num_rows)]
