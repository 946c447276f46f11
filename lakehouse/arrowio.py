"""Arrow and Parquet on the driver: Spark schemas as Arrow types, Parquet parts written and read
through the lake's file layer (local or object storage), one row per key in Arrow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from lakehouse.files import Location

_ARROW_TYPES: dict[type[DataType], pa.DataType] = {
    LongType: pa.int64(),
    DoubleType: pa.float64(),
    BooleanType: pa.bool_(),
    DateType: pa.date32(),
    StringType: pa.string(),
    TimestampType: pa.timestamp("us", tz="UTC"),
}


def arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow types matching a Spark schema (timestamps in UTC)."""
    return pa.schema([pa.field(f.name, _ARROW_TYPES[type(f.dataType)]) for f in schema.fields])


def to_arrow(frame: pd.DataFrame, schema: StructType) -> pa.Table:
    """`frame`'s columns of `schema`, with the Arrow types matching it."""
    return pa.Table.from_pandas(frame[schema.fieldNames()], schema=arrow_schema(schema), preserve_index=False)


def write_parquet_part(frame: pd.DataFrame, schema: StructType, path: Location | Path) -> None:
    """Write `frame` with the Arrow types matching a Spark schema, for `Lake.append_staged`."""
    write_parquet(to_arrow(frame, schema), path)


def write_parquet(data: pa.Table, path: Location | Path) -> None:
    """Write one Parquet file at `path` (local or on object storage)."""
    location = Location.of(path)
    pq.write_table(data, location.fs_path, filesystem=location.fs)


def parquet_rows(path: Location | Path) -> int:
    """The rows of one Parquet file, from its footer."""
    location = Location.of(path)
    return int(pq.read_metadata(location.fs_path, filesystem=location.fs).num_rows)


def read_parquet(path: Location | Path) -> pa.Table:
    """Read a Parquet file, or every part of a folder of them, from the driver."""
    location = Location.of(path)
    return pq.read_table(location.fs_path, filesystem=location.fs)


def first_per_key(data: pa.Table, key: list[str]) -> pa.Table:
    """`distinct_keys` on an Arrow table: one row per key, the smallest by every other column in
    order (nulls first, NaN last, as Spark orders them)."""
    names = data.column_names
    sort_keys, helpers = [], data
    for column in (c for c in names if c not in key):
        if pa.types.is_floating(data.schema.field(column).type):  # Arrow puts NaN with the nulls
            helpers = helpers.append_column(f"__nan_{column}", pa.compute.is_nan(data.column(column)))
            sort_keys.append((f"__nan_{column}", "ascending", "at_start"))
        sort_keys.append((column, "ascending", "at_start"))
    ordered = helpers.sort_by(sort_keys) if sort_keys else helpers
    ordered = ordered.append_column("__n", pa.array(range(ordered.num_rows), pa.int64()))
    firsts = ordered.group_by(key, use_threads=False).aggregate([("__n", "min")]).column("__n_min")
    return ordered.take(firsts).select(names)
