"""The one place that reads and writes Delta: table paths, write modes, catalog registration.

Every table lives at `<lake>/<layer>/<table>` and is registered as `<layer>.<table>`; the lake is a
local folder or an `s3://` prefix, reached through `lakehouse.files` (its URI is what the engine
and delta-rs take, with `storage_options` for delta-rs on S3).
Engine DataFrames are written by the engine (Sail or Apache Spark). Frames built on the driver
(ingestion state, run records, check results, source extracts, stream batches, landed files
parsed into staged parts) are appended by delta-rs from this process, and the small `ops` state
tables are read back the same way (`Lake.rows`): on Apache Spark each engine round trip costs
0.5-3 s however small the data.
Table metadata (versions, commit times, row counts) also comes from delta-rs, which reads any
engine's tables without a session.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    StructType,
)

from lakehouse import upserts
from lakehouse.arrowio import arrow_schema, parquet_rows, to_arrow
from lakehouse.commits import retry_conflicts
from lakehouse.deltalog import delta_table, delta_tables, delta_version, stats_row_count
from lakehouse.files import Location
from lakehouse.sqlrefs import LAYERS, referenced_tables
from lakehouse.staging import new_stage

if TYPE_CHECKING:
    from lakehouse.engine import EngineProfile

log = logging.getLogger(__name__)

_BUCKET = "_bucket"  # the partition column of `Lake.split_by_key`


def one_writer(write: Callable[..., None]) -> Callable[..., None]:
    """Hold the table's write lock for the whole write: jobs of one run that work at the same time
    (threads of one process) commit to a table they share (`silver.rejects`, the `ops` state) one
    after the other, instead of racing for its next Delta version and recomputing the loser."""
    signature = inspect.signature(write)

    @functools.wraps(write)
    def wrapped(self: Lake, *args: Any, **kwargs: Any) -> None:
        table = signature.bind(self, *args, **kwargs).arguments["table"]
        with self.write_lock(table):
            if not self.root.is_local:  # a run whose lease on the lake was taken over writes no more
                from lakehouse.s3lock import ensure_held

                ensure_held(self.root)
            write(self, *args, **kwargs)

    return wrapped


class TableNotFound(LookupError):
    """A table was read before any job wrote it."""

    def __init__(self, message: str, table: str = "") -> None:
        super().__init__(message)
        self.table = table


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int
    version: int
    last_change: dt.datetime


def _split(table: str) -> tuple[str, str]:
    layer, _, name = table.partition(".")
    if layer not in LAYERS or not name.isidentifier():
        raise ValueError(f"table name '{table}' is not <layer>.<name> with layer in {LAYERS}")
    return layer, name


class Lake:
    """Delta tables under one root, seen through one session."""

    def __init__(self, spark: SparkSession, root: Location | Path | str, names_on_write: bool = True) -> None:
        """`names_on_write`: register each table by name as it is written (`register`). A command's
        lake does not: its jobs read and write by path, and a statement that names a table
        registers it first (`run_sql`); each registration costs Apache Spark a Delta log read,
        about 6 s of a pipeline run's 30 tables in a new driver."""
        self.spark = spark
        self.root = Location.of(root)
        self._names_on_write = names_on_write
        self._registered: set[str] = set()
        self._databases: set[str] = set()
        self._catalog = threading.RLock()  # registration, from several jobs' threads
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def for_command(cls, spark: SparkSession, root: Location | Path | str) -> Lake:
        """A command's or batch job's lake: tables registered by name only when a statement names
        them, unless the session's catalog is a server's that every client shares (Apache Spark
        Connect), where every table is registered, as written, for the other clients."""
        from lakehouse.engine import profile_of

        shared = profile_of(spark).catalog_scope == "server"
        lake = cls(spark, root, names_on_write=shared)
        if shared:
            lake.register_all()
        return lake

    def write_lock(self, table: str) -> threading.RLock:
        """The lock every write to `table` through this lake holds (`one_writer`)."""
        with self._locks_guard:
            return self._locks.setdefault(table, threading.RLock())

    # -- paths and metadata -------------------------------------------------------------
    def path(self, table: str) -> Location:
        layer, name = _split(table)
        return self.root / layer / name

    def delta(self, table: str, version: int | None = None) -> DeltaTable:
        """The table opened by delta-rs (at `version`, else its latest)."""
        return delta_table(self.path(table), version)

    def exists(self, table: str) -> bool:
        """Whether the table has a commit: a write killed before its first commit leaves a
        `_delta_log` folder with nothing in it, which is no table yet."""
        return delta_version(self.path(table)) is not None

    def version(self, table: str) -> int | None:
        """The table's current Delta version, or None if it does not exist yet."""
        return delta_version(self.path(table))

    def current_version(self, table: str) -> int:
        """The current Delta version of a table that must exist (a job's input)."""
        version = self.version(table)
        if version is None:
            raise self._not_found(table)
        return version

    def _not_found(self, table: str) -> TableNotFound:
        return TableNotFound(f"{table} does not exist yet at {self.path(table)}", table)

    def partitioned_as(self, table: str, columns: Sequence[str]) -> bool:
        """Whether the table exists and is partitioned by exactly `columns` (in order); a table laid
        out otherwise (by an earlier version of its job) can only be rewritten whole."""
        return self.exists(table) and self.delta(table).metadata().partition_columns == list(columns)

    def tables(self) -> list[str]:
        """Every Delta table under the root, as `<layer>.<name>`, sorted."""
        return delta_tables(self.root)

    def row_count(self, table: str) -> int:
        """Rows in the current version, from the Delta log's file statistics when every file has them."""
        rows = stats_row_count(self.delta(table))
        return int(self.read(table).count()) if rows is None else rows

    def newest(self, table: str, column: str) -> Any:
        """The largest value of `column` in the current version, None when it has none; from the
        Delta log's file statistics when every file has them (timestamps naive in UTC, as `collect()`
        gives them, to the millisecond the statistics keep), else by a query."""
        actions = pa.table(self.delta(table).get_add_actions(flatten=True))
        name = f"max.{column}"
        if actions.num_rows == 0:
            return None
        if name in actions.schema.names and actions.column(name).null_count == 0:
            values = actions.column(name)
            if pa.types.is_timestamp(values.type):
                values = values.cast(pa.timestamp("us"))  # its UTC wall clock, without the zone
            return pa.compute.max(values).as_py()
        row = self.read(table).agg(F.max(column)).first()
        return row[0] if row else None

    def info(self, table: str) -> TableInfo:
        delta = self.delta(table)
        last = delta.history(1)[0]
        changed = dt.datetime.fromtimestamp(last["timestamp"] / 1000, tz=dt.UTC)
        rows = self.row_count(table)
        return TableInfo(table, rows, int(delta.version()), changed)

    # -- catalog --------------------------------------------------------------------------
    def register(self, table: str) -> None:
        """Make `<layer>.<table>` resolve in this session's catalog."""
        if table in self._registered:
            return
        layer, _ = _split(table)
        with self._catalog:
            if layer not in self._databases:
                self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
                self._databases.add(layer)
            if table not in self._registered:
                self.spark.sql(f"CREATE TABLE IF NOT EXISTS {table} USING delta LOCATION '{self.path(table)}'")
                self._registered.add(table)

    def _written(self, table: str) -> None:
        if self._names_on_write:
            self.register(table)

    def register_all(self) -> list[str]:
        tables = self.tables()
        for table in tables:
            self.register(table)
        return tables

    def register_referenced(self, sql: str) -> list[str]:
        """Register only the tables `sql` names (`<layer>.<table>`, or a whole layer named alone).

        Two catalog round trips per table add up to a fifth of a second on a lake of 30 tables,
        more than a one-statement command spends on its query. A name this misses (quoted, say)
        fails as an unknown table; `run_sql` then registers everything and retries."""
        wanted = referenced_tables(sql, self.tables())
        for table in wanted:
            self.register(table)
        return wanted

    def run_sql(self, sql: str) -> DataFrame:
        """`spark.sql(sql)` with the tables it names registered (all of them if one was missed)."""
        self.register_referenced(sql)
        try:
            df = self.spark.sql(sql)
            _ = df.schema  # analysed now: an unknown table fails here, not at the first action
            return df
        except Exception as exc:
            if "TABLE_OR_VIEW_NOT_FOUND" not in str(exc) and "SCHEMA_NOT_FOUND" not in str(exc):
                raise
            if set(self.tables()) <= self._registered:
                raise
        self.register_all()
        return self.spark.sql(sql)

    # -- reads ------------------------------------------------------------------------------
    def read(self, table: str, version: int | None = None) -> DataFrame:
        """The table's current rows, or those of an earlier Delta `version` (time travel)."""
        if not self.exists(table):
            raise self._not_found(table)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(str(self.path(table)))

    # -- writes -----------------------------------------------------------------------------
    def _writer(self, df: DataFrame, mode: str, partition_by: Sequence[str] | None):
        writer = df.write.format("delta").mode(mode)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        return writer

    @retry_conflicts
    @one_writer
    def overwrite(self, df: DataFrame, table: str, partition_by: Sequence[str] | None = None) -> None:
        """Replace the table's content (and schema) in one Delta commit."""
        writer = self._writer(df, "overwrite", partition_by).option("overwriteSchema", "true")
        writer.save(str(self.path(table)))
        self._written(table)

    @retry_conflicts
    @one_writer
    def append(self, df: DataFrame, table: str, partition_by: Sequence[str] | None = None) -> None:
        """Append in one commit; new columns are added to the schema (bronze keeps them)."""
        writer = self._writer(df, "append", partition_by).option("mergeSchema", "true")
        writer.save(str(self.path(table)))
        self._written(table)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Location]:
        """A fresh folder beside the lake for Parquet parts of one batch, removed afterwards (a
        killed run's are swept by the next holder of the lake's lock: `lakehouse.staging`)."""
        stage = new_stage(self.root)
        try:
            yield stage
        finally:
            with contextlib.suppress(Exception):  # a leftover stage is only garbage
                stage.delete_tree()

    def stage_frame(self, df: DataFrame, stage: Location, name: str) -> DataFrame:
        """Compute `df` once into Parquet under `stage` and read it back.

        Quality checks then scan the staged result (many small queries) instead of re-running the
        transform for each, and the Delta write that follows copies the same rows.
        """
        return self.stage_frames([df], stage, name)

    def stage_frames(self, frames: Sequence[DataFrame], stage: Location, name: str) -> DataFrame:
        """`stage_frame` of the union of `frames` (the same schema), computed one after the other:
        only one of them is being computed at a time."""
        path = stage / name
        for i, df in enumerate(frames):
            df.write.mode("append" if i else "overwrite").parquet(str(path))
        return self.spark.read.schema(frames[0].schema).parquet(str(path))

    def staged_rows(self, stage: Location, name: str) -> int:
        """The rows `stage_frame(s)` wrote under `stage / name`, from the Parquet footers: no engine
        job (on Apache Spark a count is one, about 0.15 s however small the frame)."""
        return sum(parquet_rows(part) for part in (stage / name).glob("*.parquet"))

    def split_by_key(
        self, df: DataFrame, keys: Sequence[str | Column], buckets: int, stage: Location, name: str = "split"
    ) -> dict[int, DataFrame]:
        """`df` in `buckets` parts by a hash of `keys` (every row of a key in one part), staged
        once as Parquet under `stage / name` so that each part reads only its own rows: bucket
        number -> part, empty parts left out. `{0: df}` itself when one bucket is enough or `df`
        is empty. Frames split with the same keys (of the same types) and number of buckets put a
        key in the same bucket."""
        if buckets <= 1:
            return {0: df}
        path = stage / name
        bucket = F.pmod(F.xxhash64(*keys), F.lit(buckets)).alias(_BUCKET)
        df.select("*", bucket).write.partitionBy(_BUCKET).parquet(str(path))
        parts = {int(p.name.split("=", 1)[1]): p for p in path.glob(f"{_BUCKET}=*")}
        return {b: self.spark.read.schema(df.schema).parquet(str(parts[b])) for b in sorted(parts)} or {0: df}

    @retry_conflicts
    @one_writer
    def append_staged(
        self, stage: Location, schema: StructType, table: str, partition_by: Sequence[str] | None = None
    ) -> None:
        """Append every Parquet part under `stage` (written in `schema`'s Arrow types) in one commit
        written by delta-rs, streamed part by part (nothing when there is none).

        The parts were parsed on the driver's side already, so an engine job would only copy them:
        at scale 1 (a million clickstream lines) that copy took 5.9 s on Sail and delta-rs takes
        1.0-1.3 s (docs/engines.md). A table with a feature delta-rs does not write is appended to
        by the engine, as before."""
        parts = stage.glob("*.parquet")
        if not parts:
            return
        if self.exists(table) and not upserts.delta_rs_can_write(self, table):
            # e.g. column mapping, which Apache Spark turns on to drop or rename a column
            self.append(self.spark.read.schema(schema).parquet(str(stage)), table, partition_by)
            return
        dataset = ds.dataset([p.fs_path for p in parts], schema=arrow_schema(schema), format="parquet",
                             filesystem=stage.fs)
        self._append_arrow(dataset.scanner().to_reader(), table, partition_by)

    # Driver-side frames (ingestion state, run records, check results, source extracts, stream
    # batches) are appended by delta-rs from this process, with no engine job: on Apache Spark an
    # engine append costs 1-3 s however small the frame (a Spark job, its Delta commit, and a log
    # replay on the next read); delta-rs takes 0.02-0.2 s. On Sail small appends are fast either
    # way. Engine DataFrames are still written by the engine.
    @retry_conflicts
    @one_writer
    def append_pandas(
        self, frame: pd.DataFrame, schema: StructType, table: str, partition_by: Sequence[str] | None = None
    ) -> None:
        """Append a driver-side frame, typed by `schema`, in one Delta commit written by delta-rs.

        New columns are merged into the table's schema, as `append` does; the engine sees the new
        version on its next read. (Spark Connect's 128 MB message cap, which a large
        `createDataFrame` hits on Sail, does not apply.)
        """
        if frame.empty:
            return
        self._append_arrow(to_arrow(frame, schema), table, partition_by)

    @retry_conflicts
    @one_writer
    def append_arrow(self, data: pa.Table, table: str, partition_by: Sequence[str] | None = None) -> None:
        """`append_pandas` of an Arrow table already in the table's schema."""
        if data.num_rows:
            self._append_arrow(data, table, partition_by)

    def _append_arrow(
        self, data: pa.Table | pa.RecordBatchReader, table: str, partition_by: Sequence[str] | None
    ) -> None:
        path = self.path(table)
        write_deltalake(str(path), data, mode="append", partition_by=list(partition_by or []) or None,
                        schema_mode="merge", storage_options=path.storage_options)
        self._written(table)

    def append_rows(self, rows: Sequence[tuple], schema: StructType, table: str) -> None:
        """`append_pandas` of a few rows given as tuples in `schema`'s column order."""
        self.append_pandas(pd.DataFrame(list(rows), columns=schema.fieldNames()), schema, table)

    def rows(self, table: str, filters: list[tuple[str, str, Any]] | None = None,
             columns: list[str] | None = None) -> list[dict[str, Any]]:
        """The rows of a small table (the `ops` state) read by delta-rs, with no engine job.

        `filters` are `(column, op, value)` conditions, all of which must hold. Values come back
        as `collect()` gives them with the session in UTC: timestamps naive in UTC, dates as dates.
        """
        if not self.exists(table):
            raise self._not_found(table)
        data = self.delta(table).to_pyarrow_table(columns=columns, filters=filters or None)
        casts = [
            pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f for f in data.schema
        ]
        # a timestamp's UTC wall clock, without its zone (a cast to a zoneless type keeps it)
        return data.cast(pa.schema(casts)).to_pylist()

    @retry_conflicts
    @one_writer
    def replace_where(
        self, df: DataFrame, table: str, predicate: str, partition_by: Sequence[str] | None = None
    ) -> None:
        """Atomically replace the rows matching `predicate` with `df` (creates the table if needed)."""
        if not self.exists(table):
            self.overwrite(df, table, partition_by)
            return
        writer = self._writer(df, "overwrite", partition_by).option("replaceWhere", predicate)
        writer.save(str(self.path(table)))
        self._written(table)

    @retry_conflicts
    @one_writer
    def upsert(
        self, source: DataFrame, table: str, key: Sequence[str], partition_by: Sequence[str] | None = None,
        keep_existing: bool = False, strategy: str | None = None,
    ) -> None:
        """Upsert `source` by `key` in one commit: matched rows are replaced (or kept, with
        `keep_existing`), the others inserted. The source is deduplicated by key first, so a merge
        never sees two source rows for one target row. Creates the table if needed.

        `strategy` (merge, rewrite or delta-rs) overrides the fastest way measured for this
        engine and table (`lakehouse.upserts.choose`, benchmarks/upsert.md).
        """
        if not self.exists(table):
            self.overwrite(upserts.distinct_keys(source, key), table, partition_by)
            return
        chosen = strategy or upserts.choose(self, source, table, partition_by)
        if chosen not in upserts.STRATEGIES:
            raise ValueError(f"unknown upsert strategy '{chosen}': merge, rewrite or delta-rs")
        upserts.STRATEGIES[chosen](self, source, table, list(key), list(partition_by or []), keep_existing)
        self._written(table)

    @property
    def profile(self) -> EngineProfile:
        """What this lake's engine can do (declared when its session was made)."""
        from lakehouse.engine import profile_of

        return profile_of(self.spark)

    @one_writer
    def delete_where(self, table: str, predicate: str) -> None:
        if self.exists(table):
            self.spark.sql(f"DELETE FROM delta.`{self.path(table)}` WHERE {predicate}")

    def drop(self, table: str) -> None:
        """Remove a table's files (tests and `--full` rebuilds only)."""
        self.path(table).delete_tree()
        self._registered.discard(table)
