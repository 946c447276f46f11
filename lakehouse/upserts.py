"""The three ways `Lake.upsert` writes matched and new rows in one commit, and the choice among them.

- `merge`: the engine's `MERGE INTO` (runs on a cluster's executors; on Sail it rewrites the
  whole table);
- `rewrite`: the touched partitions read, merged and written back with `replaceWhere` (Sail, while
  they are few);
- `delta-rs`: the source staged as Parquet and merged by delta-rs from this process (Apache Spark
  on one machine, where it is 3-8x faster than Delta's MERGE, and Sail past a few partitions).

Every strategy matches keys null-safely (`<=>`, `IS NOT DISTINCT FROM`), so they agree on null keys.
Measured in benchmarks/upsert.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.arrowio import first_per_key, read_parquet

if TYPE_CHECKING:
    from lakehouse.storage import Lake

# On Sail, rewriting the touched partitions wins while they are few; past this share of the
# table's partitions a delta-rs merge (which rewrites only files with matches) is faster.
REWRITE_MAX_SHARE = 0.25
# Table features delta-rs writes as the engines do; a table with others (deletion vectors,
# column mapping, ...) is merged by the engine.
DELTA_RS_WRITER_FEATURES = frozenset({"appendOnly", "invariants", "timestampNtz"})


def distinct_keys(df: DataFrame, key: Sequence[str]) -> DataFrame:
    """One row per key (rows equal on the key but not otherwise: the smallest by every column)."""
    window = Window.partitionBy(*key).orderBy(*[F.col(c).asc_nulls_first() for c in df.columns if c not in key])
    return df.withColumn("__n", F.row_number().over(window)).where("__n = 1").drop("__n")


def choose(lake: Lake, source: DataFrame, table: str, partition_by: Sequence[str] | None) -> str:
    """The measured winner for this engine, table layout and source (benchmarks/upsert.md).

    Apache Spark on one machine (`local[...]`): a delta-rs merge, 3-8x faster than Delta's
    MERGE there, where the driver is the whole cluster anyway. On a cluster, or where this
    process cannot reach the table's files: MERGE, which runs on the executors. An engine whose
    MERGE rewrites the whole table (Sail): the touched partitions are rewritten while they are
    few, and delta-rs merges otherwise."""
    profile = lake.profile
    if profile.upsert_default() == "merge":
        return "merge"
    if profile.merge_rewrites_table and partition_by:
        touched = len(partition_values(source, partition_by))
        actions = pa.table(lake.delta(table).get_add_actions(flatten=True))
        columns = [f"partition.{c}" for c in partition_by]
        total = len(set(zip(*(actions.column(c).to_pylist() for c in columns), strict=True))) if len(actions) else 0
        if touched <= max(1, REWRITE_MAX_SHARE * total):
            return "rewrite"
    return "delta-rs" if delta_rs_can_write(lake, table) else "merge"


def delta_rs_can_write(lake: Lake, table: str) -> bool:
    """Whether delta-rs writes this table: none of the table features it does not support (column
    mapping, deletion vectors, change data feed, which Apache Spark can turn on)."""
    protocol = lake.delta(table).protocol()
    if protocol.min_writer_version <= 2:
        return True
    return protocol.min_writer_version == 7 and set(protocol.writer_features or ()) <= DELTA_RS_WRITER_FEATURES


def partition_values(source: DataFrame, partition_by: Sequence[str]) -> list[tuple]:
    return [tuple(r) for r in source.select(*partition_by).distinct().collect()]


def partition_predicate(partition_by: Sequence[str], values: list[tuple], alias: str = "") -> str:
    """SQL that holds for the rows of these partitions (`false` for none); `alias` qualifies the columns."""
    prefix = f"{alias}." if alias else ""

    def literal(value: Any) -> str:
        return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"

    if not values:
        return "false"
    clauses = []
    for row in values:
        parts = [
            f"{prefix}`{c}` IS NULL" if v is None else f"{prefix}`{c}` = {literal(v)}"
            for c, v in zip(partition_by, row, strict=True)
        ]
        clauses.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(clauses)


def merge_sql(lake: Lake, source: DataFrame, table: str, key: list[str], partition_by: list[str],
              keep_existing: bool) -> None:
    source = distinct_keys(source, key)  # a merge must not see two source rows for one target row
    view = f"upsert_source_{uuid.uuid4().hex[:8]}"
    source.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in key)
    if partition_by:  # lets Delta skip the files of partitions the source does not touch
        values = partition_values(source, partition_by)
        on += " AND (" + partition_predicate(partition_by, values, "t") + ")"
    matched = "" if keep_existing else "WHEN MATCHED THEN UPDATE SET * "
    try:
        lake.spark.sql(
            f"MERGE INTO delta.`{lake.path(table)}` AS t USING {view} AS s ON {on} "
            f"{matched}WHEN NOT MATCHED THEN INSERT *"
        )
    finally:
        lake.spark.catalog.dropTempView(view)


def rewrite_partitions(lake: Lake, source: DataFrame, table: str, key: list[str], partition_by: list[str],
                       keep_existing: bool) -> None:
    """Without partitions there is nothing to rewrite piecewise: a delta-rs merge."""
    if not partition_by:
        merge_delta_rs(lake, source, table, key, partition_by, keep_existing)
        return
    source = distinct_keys(source, key)
    values = partition_values(source, partition_by)
    predicate = partition_predicate(partition_by, values)
    current = lake.read(table).where(predicate)
    if keep_existing:
        merged = current.unionByName(source.join(current.select(*key), key, "left_anti"))
    else:
        merged = current.join(source.select(*key), key, "left_anti").unionByName(source)
    with lake.staging() as stage:  # computed before the partitions it reads are replaced
        staged = lake.stage_frame(merged.select(*current.columns), stage, "merged")
        lake.replace_where(staged, table, predicate, partition_by)


def merge_delta_rs(lake: Lake, source: DataFrame, table: str, key: list[str], partition_by: list[str],
                   keep_existing: bool) -> None:
    del partition_by  # delta-rs rewrites only the files that hold a match
    with lake.staging() as stage:
        # staged as it is: the engine's window for `distinct_keys` took 6 s of a 13 s upsert of
        # 200 k rows on Apache Spark; the same choice in Arrow takes a few hundredths
        staged = lake.stage_frame(source, stage, "source")
        data = first_per_key(read_parquet(stage / "source"), key)
        target = lake.delta(table)
        schema = pa.schema(target.schema().to_arrow())
        data = data.cast(pa.schema([schema.field(n) for n in data.column_names]))
        on = " AND ".join(f"(t.{k} IS NOT DISTINCT FROM s.{k})" for k in key)  # null-safe, as MERGE INTO
        merger = target.merge(data, on, source_alias="s", target_alias="t")
        if not keep_existing:
            merger = merger.when_matched_update_all()
        merger.when_not_matched_insert_all().execute()
        del staged


Strategy = Callable[["Lake", DataFrame, str, list[str], list[str], bool], None]
STRATEGIES: dict[str, Strategy] = {"merge": merge_sql, "rewrite": rewrite_partitions, "delta-rs": merge_delta_rs}
