"""Silver jobs: whole rebuilds of small tables, first landings of keyed events and readings kept
as increments, and tables recomputed by groups (whole orders, whole customers) as increments;
full rebuilds in buckets of keys or groups. Every write goes through the quality gate."""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from lakehouse import upserts
from lakehouse.clock import to_engine
from lakehouse.files import Location
from lakehouse.incremental import (
    Increments,
    Mark,
    appended_only,
    changed_rows,
    newest_ingestion,
    readable,
    rewritten_keys,
)
from lakehouse.jobs.base import (
    REJECTS_TABLE,
    Job,
    JobContext,
    JobOutcome,
    builder_options,
    by_name,
    check_builder,
    count_rows,
    describe_warnings,
    read_inputs,
    read_named,
    with_reject_columns,
)
from lakehouse.quality.rules import Built
from lakehouse.storage import Lake
from lakehouse.tables import ByGroups, FirstLanding, TableSpec


def silver_job(spec: TableSpec, builder: Callable[..., Built]) -> Job:
    """A silver table rebuilt whole from its inputs (`spec.inputs`) whenever one of them changed."""
    inputs = spec.input_tables
    check_builder(spec, builder)

    def compute(ctx: JobContext) -> Built:
        return builder(**read_named(ctx, spec), **builder_options(ctx, spec))

    def run(ctx: JobContext) -> JobOutcome:
        return _write_silver(ctx, name, spec, compute(ctx), count_rows(ctx, inputs))

    name = "silver_" + spec.short_name
    return Job(name, inputs, (spec.name, REJECTS_TABLE), run, spec=spec, builder=builder, compute=compute)


def incremental_silver_job(spec: TableSpec, build_from_first: Callable[..., Built]) -> Job:
    """A silver table over one append-only bronze table, keyed by its first landing (events,
    telemetry; `spec.incremental` is a `FirstLanding`). Runs on only the bronze rows landed since
    its last run when it can (see `lakehouse.incremental`): their first landings whose key bronze
    had not seen before are typed, checked and upserted (the key's existing row wins); their
    rejects are added once. `build_from_first(first, ...)` types and checks first landings."""
    table, name, source = spec.name, "silver_" + spec.short_name, spec.kept_by(FirstLanding).source
    check_builder(spec, build_from_first)

    def run(ctx: JobContext) -> JobOutcome:
        lake, increments = ctx.lake, Increments(ctx.lake)
        version, mark, written_before = lake.current_version(source), increments.last(name), lake.version(table)
        watermark = newest_ingestion(lake, source, version)
        incremental = mark is not None and _first_goes_on(ctx, spec, mark)
        if incremental and mark is not None:
            outcome, dates = _land_first(ctx, name, spec, build_from_first, mark, version)
        else:
            outcome, dates = _rebuild_first(ctx, name, spec, build_from_first, version), []
        increments.record(
            name, source, version, watermark, table, dates, "", "incremental" if incremental else "full",
            outcome.rows_out, ctx.run_id, ctx.started_at, wrote=lake.version(table) != written_before,
        )
        return outcome

    def compute(ctx: JobContext) -> Built:
        # one version: `first_of` reads the source three times, and a stream may append between
        bronze = ctx.lake.read(source, ctx.lake.current_version(source))
        return first_landing(spec, build_from_first, bronze, **builder_options(ctx, spec))

    return Job(name, (source,), (table, REJECTS_TABLE), run, spec=spec, builder=build_from_first, compute=compute)


def _first_goes_on(ctx: JobContext, spec: TableSpec, mark: Mark) -> bool:
    """Whether a table of first landings can go on from its last run (`mark`): not asked to
    rebuild, same source, laid out as declared, and the source only appended to since."""
    source, lake = spec.kept_by(FirstLanding).source, ctx.lake
    return (
        not ctx.full
        and mark.input_table == source
        and lake.partitioned_as(spec.name, spec.partition_by)
        and appended_only(lake, source, mark.input_version)
    )


def landed_since(bronze: DataFrame, watermark: dt.datetime | None) -> DataFrame:
    """The bronze rows ingested after `watermark` (all of them without one)."""
    return bronze if watermark is None else bronze.where(F.col("_ingested_at") > F.lit(to_engine(watermark)))


def _land_first(
    ctx: JobContext, name: str, spec: TableSpec, build_from_first: Callable[..., Built], mark: Mark, version: int
) -> tuple[JobOutcome, list[dt.date]]:
    """The first landings of the keys new to the source since `mark`, typed, checked and written."""
    lake, kept, key = ctx.lake, spec.kept_by(FirstLanding), list(spec.key)
    new = landed_since(lake.read(kept.source, version), mark.watermark)
    # keys bronze had already seen, looked up only where the new keys' range overlaps
    seen = lake.read(kept.source, mark.input_version).select(*key).where(within_range(new, key))
    first = kept.first_of(new, key).join(seen, key, "left_anti")
    built = build_from_first(first=first, **builder_options(ctx, spec))
    # Nothing written to the table since the mark: every key bronze had not seen then is new to
    # the table too, so the rows are appended. Otherwise (a run that died after its write, a
    # compaction) they are upserted, existing keys winning.
    untouched = lake.version(spec.name) == mark.output_version
    return _write_increment(ctx, name, spec, built, append=untouched)


def _rebuild_first(
    ctx: JobContext, name: str, spec: TableSpec, build_from_first: Callable[..., Built], version: int
) -> JobOutcome:
    """The table rebuilt from every first landing in the source, in buckets of keys one after the
    other: keeping the first landing of 41 M events in one pass took 17 GB. A key's rows are all
    in one bucket."""
    lake, source = ctx.lake, spec.kept_by(FirstLanding).source
    rows = lake.row_count(source)
    buckets = math.ceil(rows / ctx.config.pipeline.rebuild_bucket_rows)
    with ctx.alone(rows), lake.staging() as stage:
        parts = lake.split_by_key(lake.read(source, version), list(spec.key), buckets, stage).values()
        options = builder_options(ctx, spec)
        firsts = [first_landing(spec, build_from_first, p, **options) for p in parts]
        return _write_silver(ctx, name, spec, firsts, rows)


def first_landing(spec: TableSpec, build_from_first: Callable[..., Built], bronze: DataFrame, **options: Any) -> Built:
    """`build_from_first` of every key's first landing in `bronze` (with `options`, see
    `builder_options`)."""
    first = spec.kept_by(FirstLanding).first_of(bronze, spec.key)
    return build_from_first(first=first, **options)


def grouped_silver_job(
    spec: TableSpec, builder: Callable[..., Built], affected_groups: Callable[..., DataFrame]
) -> Job:
    """A silver table rebuilt by groups (whole orders, whole customers) over one bronze table and
    other inputs (`spec.incremental` is a `ByGroups`). When it can go on from its last run (see
    `lakehouse.incremental`), it recomputes only the groups `affected_groups` names, and those
    whose bronze rows were changed in place by a recorded rewrite, from those groups' rows of the
    keyed inputs and the other inputs whole, and replaces those groups' rows and rejects
    (`_replace_groups`); otherwise it rebuilds the table. Either way the result is what a full
    rebuild gives."""
    table, name, inputs = spec.name, "silver_" + spec.short_name, spec.input_tables
    source = spec.kept_by(ByGroups).source
    check_builder(spec, builder)

    def run(ctx: JobContext) -> JobOutcome:
        lake, increments = ctx.lake, Increments(ctx.lake)
        source_version = lake.current_version(source)
        versions = {t: source_version if t == source else lake.version(t) for t in inputs}
        marks, written_before = increments.last_inputs(name), lake.version(table)
        rewritten = _groups_rewritten(ctx, spec, marks)
        frames = dict(zip(inputs, read_inputs(ctx, inputs, versions), strict=True))
        if rewritten is not None:
            outcome, dates = _recompute_groups(ctx, name, spec, builder, affected_groups, frames, marks, rewritten)
        else:
            outcome, dates = _rebuild_by_groups(ctx, name, spec, builder, frames), []
        watermark = newest_ingestion(lake, source, source_version)
        recorded = {t: (-1 if v is None else v, watermark if t == source else None) for t, v in versions.items()}
        increments.record_inputs(name, recorded, table, dates, "full" if rewritten is None else "incremental",
                                 outcome.rows_out, ctx.run_id, ctx.started_at,
                                 wrote=lake.version(table) != written_before)
        return outcome

    def compute(ctx: JobContext) -> Built:
        return builder(**read_named(ctx, spec), **builder_options(ctx, spec))

    return Job(name, inputs, (table, REJECTS_TABLE), run, spec=spec, builder=builder, compute=compute)


def _groups_rewritten(ctx: JobContext, spec: TableSpec, marks: Mapping[str, Mark]) -> list[Any] | None:
    """When a table kept by groups can go on from its last run (`marks`: not asked to rebuild, the
    same inputs, laid out as declared, every other input's last read version still readable), the
    groups whose source rows were changed in place since (the erasure scrub); None: rebuild (also
    for a change of the source whose groups are not recorded, which only a rebuild can take in)."""
    kept, lake, inputs = spec.kept_by(ByGroups), ctx.lake, spec.input_tables
    goes_on = (
        not ctx.full
        and set(marks) == set(inputs)
        and lake.partitioned_as(spec.name, spec.partition_by)
        and all(marks[t].input_version < 0 or readable(lake, t, marks[t].input_version)
                for t in inputs if t != kept.source)
    )
    return rewritten_keys(lake, kept.source, marks[kept.source].input_version, kept.group_key) if goes_on else None


def _changes_since(
    lake: Lake, kept: ByGroups, marks: Mapping[str, Mark], frames: Mapping[str, DataFrame]
) -> tuple[dict[str, DataFrame], dict[str, DataFrame]]:
    """Per tracked input that changed since the last run: its rows whose tracked columns differ
    (old and new values), and the input as the last run read it."""
    changed, previous = {}, {}
    for t, columns in kept.tracked.items():
        since = marks[t].input_version
        rows = changed_rows(lake, t, since, columns, kept.dated_inputs.get(t))
        if rows is not None:
            changed[t] = rows
            previous[t] = lake.read(t, since) if since >= 0 else frames[t].limit(0)
    return changed, previous


def _recompute_groups(
    ctx: JobContext,
    name: str,
    spec: TableSpec,
    builder: Callable[..., Built],
    affected_groups: Callable[..., DataFrame],
    frames: dict[str, DataFrame],
    marks: Mapping[str, Mark],
    rewritten: list[Any],
) -> tuple[JobOutcome, list[dt.date]]:
    """An increment: the groups the changes since `marks` reach (`affected_groups`) and the
    `rewritten` ones, recomputed from their rows of the keyed inputs and the other inputs whole."""
    kept, lake = spec.kept_by(ByGroups), ctx.lake
    new = landed_since(frames[kept.source], marks[kept.source].watermark)
    changed, previous = _changes_since(lake, kept, marks, frames)
    with lake.staging() as stage:
        affected = affected_groups(new, changed, frames, previous)
        if rewritten:
            key = StructType([StructField(kept.group_key, spec.declared_schema()[kept.group_key].dataType)])
            affected = affected.unionByName(lake.spark.createDataFrame([(k,) for k in rewritten], key))
        groups = Groups.staged(lake, affected, kept.group_key, stage)
        keyed = {t: groups.rows_of(f) if t in kept.keyed_inputs else f for t, f in frames.items()}
        built = builder(**by_name(spec, keyed), **builder_options(ctx, spec))
        return _replace_groups(ctx, name, spec, built, groups)


def within_range(df: DataFrame, columns: Sequence[str]) -> Column:
    """True where each of `columns` lies within the range of its values in `df` (one query). Looking
    `df`'s keys up in a large table behind this reads only the files whose statistics overlap the
    range: the newest ones, for keys that grow with time (order ids, dated event ids, a device's
    reading counter). False everywhere when `df` is empty."""
    row = df.agg(*(F.min(c) for c in columns), *(F.max(c) for c in columns)).collect()[0]
    bounds = [F.col(c).between(F.lit(row[i]), F.lit(row[len(columns) + i])) for i, c in enumerate(columns)]
    return reduce(operator.and_, bounds)


def _rebuild_by_groups(
    ctx: JobContext, name: str, spec: TableSpec, builder: Callable[..., Built], frames: dict[str, DataFrame]
) -> JobOutcome:
    """Rebuild a table recomputed by groups whole, in buckets of groups one after the other, as
    first landings are (`pipeline.rebuild_bucket_rows` bronze rows of its source a bucket):
    every keyed input is split by a hash of the group key, so a group's rows are all in one bucket,
    and each bucket's groups are computed from their own rows and the other inputs whole, as an
    increment computes the groups it reaches. A first build of 120 days at scale 10 peaked at
    10 GB in `silver_order_lines` in one pass."""
    kept, lake = spec.kept_by(ByGroups), ctx.lake
    group = kept.group_key
    key = F.col(group).cast(spec.declared_schema()[group].dataType)  # the same value hashes alike in every input
    buckets = math.ceil(lake.row_count(kept.source) / ctx.config.pipeline.rebuild_bucket_rows)
    rows = count_rows(ctx, tuple(frames))
    with ctx.alone(rows), lake.staging() as stage:
        splits = {t: lake.split_by_key(frames[t], [key], buckets, stage, t.replace(".", "_"))
                  for t in kept.keyed_inputs}
        numbers = sorted({b for split in splits.values() for b in split})
        options = builder_options(ctx, spec)
        parts = [
            builder(**by_name(spec, {t: splits[t].get(b, f.limit(0)) if t in splits else f for t, f in frames.items()}),
                    **options)
            for b in numbers
        ]
        return _write_silver(ctx, name, spec, parts, rows)


@dataclass(frozen=True)
class Groups:
    """The groups an increment recomputes: values of one key column, staged once; whether null
    (the rows with no key) is one of them; and the range the values span."""

    frame: DataFrame  # one column, `column`, without nulls
    column: str
    with_null: bool
    within: Column  # `within_range` of the values

    @staticmethod
    def staged(lake: Lake, affected: DataFrame, column: str, stage: Location) -> Groups:
        groups = lake.stage_frame(affected, stage, "groups")
        with_null = groups.where(F.col(column).isNull()).limit(1).count() > 0
        return Groups(groups.where(F.col(column).isNotNull()), column, with_null, within_range(groups, [column]))

    def rows_of(self, df: DataFrame) -> DataFrame:
        """The rows of `df` whose key (the column of the same name) is one of the groups, and with
        `with_null` those whose key is null. Keys out of range are left out before the join."""
        key = F.col(self.column)
        ids = self.frame.select(key.alias("_group"))
        inside = df.where(self.within).join(ids, key == F.col("_group"), "left_semi")
        return inside.unionByName(df.where(key.isNull())) if self.with_null else inside

    def rows_outside(self, df: DataFrame, key: Column) -> DataFrame:
        """The rows of `df` whose `key` is none of the groups (nor null, with `with_null`)."""
        ids = self.frame.select(F.col(self.column).alias("_group"))
        outside = df.join(ids, key == F.col("_group"), "left_anti")
        return outside.where(key.isNotNull()) if self.with_null else outside


def _replace_groups(
    ctx: JobContext, name: str, spec: TableSpec, built: Built, groups: Groups
) -> tuple[JobOutcome, list[dt.date]]:
    """Replace the rows and rejects of `groups` with `built` (computed from those groups only).

    Partitioned tables rewrite only the partitions the groups have rows in, before or after; the
    rejects' group is read from the row each holds. Behind the quality gate, like a full write."""
    lake = ctx.lake
    table, group, partition_by = spec.name, spec.kept_by(ByGroups).group_key, spec.partition_by
    date_column = spec.date_column  # the dates the replaced groups are on
    key_type = spec.declared_schema()[group].dataType
    with lake.staging() as stage:
        built = stage_built(lake, built, stage)
        rows, rejects = built.rows, with_reject_columns(built.rejects, ctx)
        current = lake.read(table)
        replaced = lake.stage_frame(groups.rows_of(current), stage, "replaced")
        new_rows, old_rows = rows.count(), lake.staged_rows(stage, "replaced")
        results = ctx.gate.check(name, spec, rows, rejects, volume=lake.row_count(table) - old_rows + new_rows)
        dates: list[dt.date] = []
        if partition_by:
            values = sorted({tuple(r) for f in (rows, replaced) for r in f.select(*partition_by).distinct().collect()},
                            key=lambda v: tuple((x is None, x) for x in v))
            predicate = upserts.partition_predicate(partition_by, values)
            kept = groups.rows_outside(current.where(predicate), F.col(group))
            merged = lake.stage_frame(kept.unionByName(rows.select(*kept.columns)), stage, "merged")
            if values:
                lake.replace_where(merged, table, predicate, partition_by)
            if date_column in partition_by:
                at = partition_by.index(date_column)
                dates = [v[at] for v in values if v[at] is not None]
        else:
            kept = groups.rows_outside(current, F.col(group))
            lake.overwrite(lake.stage_frame(kept.unionByName(rows.select(*kept.columns)), stage, "merged"), table)
            if date_column:
                dates = sorted({r[0] for f in (rows, replaced) for r in f.select(date_column).distinct().collect()
                                if r[0] is not None})
        slice_ = lake.read(REJECTS_TABLE).where(F.col("table") == table) if lake.exists(REJECTS_TABLE) else None
        if slice_ is not None:
            held = F.get_json_object("row_json", f"$.{group}").cast(key_type)
            kept_rejects = groups.rows_outside(slice_, held)
            slice_ = lake.stage_frame(kept_rejects.unionByName(rejects.select(*kept_rejects.columns)), stage, "slice")
        lake.replace_where(slice_ if slice_ is not None else rejects, REJECTS_TABLE, f"table = '{table}'",
                           partition_by=["table"])
        rejected = rejects.count()
    warnings = ctx.gate.commit(name, table, results)
    note = f"incremental: {new_rows} row(s) of the changed groups over {len(dates) or 'all'} date(s)"
    return JobOutcome(new_rows + rejected, new_rows, rejected, note, describe_warnings(warnings)), dates


def stage_built(lake: Lake, built: Built | Sequence[Built], stage: Location) -> Built:
    """`built` computed once into Parquet under `stage`: its checked frame, which the rows and the
    rejects are then taken from, or (a Built without one) the rows and the rejects each. Checks
    and writes then read the staged rows instead of running the transform again for each.
    Several Builts of the same transform (a rebuild's buckets, `Lake.split_by_key`) are computed
    one after the other into the same Parquet and make one Built."""
    parts = [built] if isinstance(built, Built) else list(built)
    checked = [p.checked for p in parts if p.checked is not None]
    if len(checked) < len(parts):
        return Built(lake.stage_frames([p.rows for p in parts], stage, "rows"),
                     lake.stage_frames([p.rejects for p in parts], stage, "rejects"))
    return parts[0].from_checked(lake.stage_frames(checked, stage, "checked"))


def _write_silver(
    ctx: JobContext, name: str, spec: TableSpec, built: Built | Sequence[Built], rows_in: int
) -> JobOutcome:
    """Replace the whole silver table and its rejects with `built` (or the union of several,
    see `stage_built`), behind the quality gate."""
    table = spec.name
    with ctx.lake.staging() as stage:
        # Computed once into Parquet: checked there, then committed only if no critical check failed.
        built = stage_built(ctx.lake, built, stage)
        rows, rejects = built.rows, with_reject_columns(built.rejects, ctx)
        results = ctx.gate.check(name, spec, rows, rejects)
        ctx.lake.overwrite(rows, table, spec.partition_by)
        ctx.lake.replace_where(rejects, REJECTS_TABLE, f"table = '{table}'", partition_by=["table"])
        rejected = rejects.count()  # the table's slice of silver.rejects is now exactly these rows
    warnings = ctx.gate.commit(name, table, results)
    return JobOutcome(rows_in, ctx.lake.row_count(table), rejected, warnings=describe_warnings(warnings))


def _write_increment(
    ctx: JobContext, name: str, spec: TableSpec, built: Built, append: bool = False
) -> tuple[JobOutcome, list[dt.date]]:
    """Upsert an increment's rows (existing keys win), or append them when the caller knows every
    key is new to the table (`append`); add its rejects not recorded before."""
    table = spec.name
    assert spec.fresh_by and spec.date_column, f"{table}: increments need its freshness and date columns"
    lake = ctx.lake
    with lake.staging() as stage:
        built = stage_built(lake, built, stage)
        rows, rejects = built.rows, with_reject_columns(built.rejects, ctx)
        if lake.exists(REJECTS_TABLE):
            known = lake.read(REJECTS_TABLE).where(F.col("table") == table).select("rule", "row_json")
            rejects = rejects.join(known, ["rule", "row_json"], "left_anti")
        rejects = lake.stage_frame(rejects, stage, "rejects")
        new_rows, new_rejects = rows.count(), lake.staged_rows(stage, "rejects")
        # The table keeps every row it holds: its freshness is that of its newest and the increment's.
        kept = lake.newest(table, spec.fresh_by)
        results = ctx.gate.check(name, spec, rows, rejects, volume=lake.row_count(table) + new_rows,
                                 newest_kept=kept)
        dates = [r[0] for r in rows.select(spec.date_column).distinct().collect() if r[0] is not None]
        if new_rows and append:
            lake.append(rows, table, spec.partition_by)
        elif new_rows:
            lake.upsert(rows, table, spec.key, spec.partition_by, keep_existing=True)
        if new_rejects:
            lake.append(rejects, REJECTS_TABLE, ["table"])
    warnings = ctx.gate.commit(name, table, results)
    note = f"incremental: {new_rows} new row(s) over {len(dates)} date(s)"
    return JobOutcome(new_rows + new_rejects, new_rows, new_rejects, note, describe_warnings(warnings)), dates
