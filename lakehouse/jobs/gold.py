"""Gold jobs: tables rebuilt whole from their inputs, and tables of dates recomputed for the dates
their silver inputs' increments touched. Every write goes through the quality gate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame

from lakehouse.incremental import Increments, dates_written, params_text
from lakehouse.jobs.base import (
    Job,
    JobContext,
    JobOutcome,
    by_name,
    check_builder,
    count_rows,
    describe_warnings,
    read_named,
)
from lakehouse.tables import ByDates, TableSpec


def gold_job(
    spec: TableSpec,
    builder: Callable[..., DataFrame],
    params: Callable[[JobContext], dict[str, Any]] = lambda ctx: {},
) -> Job:
    """A gold table rebuilt whole from its inputs (`spec.inputs`) whenever one of them changed."""
    inputs = spec.input_tables
    check_builder(spec, builder)

    def compute(ctx: JobContext) -> DataFrame:
        return builder(**read_named(ctx, spec), **params(ctx))

    def run(ctx: JobContext) -> JobOutcome:
        return _write_gold(ctx, name, spec, compute(ctx), count_rows(ctx, inputs))

    name = "gold_" + spec.short_name
    return Job(name, inputs, (spec.name,), run, params=params, spec=spec, builder=builder, compute=compute)


def incremental_gold_job(
    spec: TableSpec,
    builder: Callable[..., DataFrame],
    params: Callable[[JobContext], dict[str, Any]] = lambda ctx: {},
    reach: Callable[[dict[str, Any]], int] = lambda params: 0,
) -> Job:
    """A gold table of dates over incrementally written silver tables (`spec.incremental`, a
    `ByDates`: each input and its date column): recomputes only the dates the silver increments
    since its last run touched, in any of its inputs.

    `reach(params)` is how many days one row's change can move results (0: a row only counts on
    its own date; for the cold chain, a reading changes its neighbours' values, and neighbours
    further than the gap break never matter): the affected dates are the touched ones ± reach, and
    they are computed from input dates ± reach more, so every row they need is read. With no usable
    increments (an input written by anything but a recorded increment since, e.g. a backfill, a
    full rebuild or a compaction) the whole table is rebuilt.
    """
    table, name, inputs = spec.name, "gold_" + spec.short_name, spec.input_tables
    spec.kept_by(ByDates)
    check_builder(spec, builder)

    def run(ctx: JobContext) -> JobOutcome:
        lake = ctx.lake
        versions = {source: lake.current_version(source) for source in inputs}
        settings = params(ctx)
        fingerprint, days = params_text(settings), reach(settings)
        touched = _dates_touched(ctx, name, spec, versions, fingerprint) if days >= 0 else None
        written_before = lake.version(table)
        frames = {source: lake.read(source, versions[source]) for source in inputs}
        if touched is None:
            rows = count_rows(ctx, inputs)
            with ctx.alone(rows):
                outcome = _write_gold(ctx, name, spec, builder(**by_name(spec, frames), **settings), rows)
            dates: list[dt.date] = []
        else:
            dates = sorted(_widen(touched, days))
            outcome = _recompute_dates(ctx, name, spec, builder, frames, settings, dates, days)
        Increments(lake).record_inputs(
            name, {s: (v, None) for s, v in versions.items()}, table, dates, "full" if touched is None else
            "incremental", outcome.rows_out, ctx.run_id, ctx.started_at, fingerprint,
            wrote=lake.version(table) != written_before,
        )
        return outcome

    def compute(ctx: JobContext) -> DataFrame:
        return builder(**by_name(spec, {source: ctx.lake.read(source) for source in inputs}), **params(ctx))

    return Job(name, inputs, (table,), run, params=params, spec=spec, builder=builder, compute=compute)


def _dates_touched(
    ctx: JobContext, name: str, spec: TableSpec, versions: dict[str, int], fingerprint: str
) -> set[dt.date] | None:
    """The dates the inputs' increments since the job's last run touched; None: rebuild whole (asked
    to, other inputs or parameters than then, laid out otherwise than declared, or an input written
    since by anything but a recorded increment)."""
    increments = Increments(ctx.lake)
    marks = increments.last_inputs(name)
    if ctx.full or set(marks) != set(spec.input_tables) or not ctx.lake.partitioned_as(spec.name, spec.partition_by):
        return None
    touched: set[dt.date] = set()
    for source, mark in marks.items():
        if mark.params != fingerprint:
            return None
        written = dates_written(increments, source, mark.input_version, versions[source])
        if written is None:
            return None
        touched |= written
    return touched


def _recompute_dates(
    ctx: JobContext,
    name: str,
    spec: TableSpec,
    builder: Callable[..., DataFrame],
    frames: dict[str, DataFrame],
    settings: dict[str, Any],
    dates: list[dt.date],
    days: int,
) -> JobOutcome:
    """The table's rows of `dates` recomputed from the inputs' rows within `days` of them (every
    row they need) and replaced, behind the gate; nothing when no date was touched."""
    if not dates:
        return JobOutcome(note="incremental: no date touched")
    assert spec.date_column, f"{spec.name} has no date column"
    needed, by_dates = sorted(_widen(set(dates), days)), spec.kept_by(ByDates).input_dates
    narrowed = {s: f.where(dates_predicate(by_dates[s], needed)) for s, f in frames.items()}
    result = builder(**by_name(spec, narrowed), **settings).where(dates_predicate(spec.date_column, dates))
    return _replace_dates(ctx, name, spec, result, dates)


def _widen(dates: set[dt.date], days: int) -> set[dt.date]:
    return {d + dt.timedelta(days=k) for d in dates for k in range(-days, days + 1)}


def _write_gold(ctx: JobContext, name: str, spec: TableSpec, result: DataFrame, rows_in: int) -> JobOutcome:
    """Replace the whole gold table with `result`, behind the quality gate."""
    table = spec.name
    with ctx.lake.staging() as stage:
        rows = ctx.gate.stage(result, stage, "rows")
        results = ctx.gate.check(name, spec, rows)
        ctx.lake.overwrite(rows, table, spec.partition_by)
    warnings = ctx.gate.commit(name, table, results)
    return JobOutcome(rows_in, ctx.lake.row_count(table), 0, warnings=describe_warnings(warnings))


def dates_predicate(column: str, dates: list[dt.date]) -> str:
    """`column IN (DATE '...', ...)`: a predicate both engines push down and `replaceWhere` takes."""
    literals = ", ".join("DATE '" + d.isoformat() + "'" for d in dates)
    return f"{column} IN ({literals})"


def _replace_dates(
    ctx: JobContext, name: str, spec: TableSpec, result: DataFrame, dates: list[dt.date]
) -> JobOutcome:
    """Replace the rows of `dates` with `result` (rows of those dates only), behind the gate."""
    table = spec.name
    assert spec.date_column, f"{table} has no date column"
    predicate = dates_predicate(spec.date_column, dates)
    lake = ctx.lake
    with lake.staging() as stage:
        rows = lake.stage_frame(result, stage, "rows")
        new_rows = lake.staged_rows(stage, "rows")
        replaced = lake.read(table).where(predicate).count()
        results = ctx.gate.check(name, spec, rows, volume=lake.row_count(table) - replaced + new_rows)
        lake.replace_where(rows, table, predicate, spec.partition_by)
    warnings = ctx.gate.commit(name, table, results)
    note = f"incremental: {len(dates)} date(s) recomputed"
    return JobOutcome(new_rows, new_rows, 0, note, describe_warnings(warnings))
