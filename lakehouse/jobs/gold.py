"""Gold jobs: tables rebuilt whole from their inputs, and tables of dates recomputed for the dates
their silver inputs' increments touched. Every write goes through the quality gate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pyspark.sql import DataFrame

from lakehouse.incremental import Increments, dates_written, params_text
from lakehouse.jobs.base import Job, JobContext, JobOutcome, count_rows, describe_warnings, read_inputs


def gold_job(
    module: ModuleType,
    builder: Callable[..., DataFrame],
    inputs: tuple[str, ...],
    params: Callable[[JobContext], dict[str, Any]] = lambda ctx: {},
) -> Job:
    table: str = module.TABLE

    def compute(ctx: JobContext) -> DataFrame:
        return builder(*read_inputs(ctx, inputs), **params(ctx))

    def run(ctx: JobContext) -> JobOutcome:
        return _write_gold(ctx, name, module, compute(ctx), count_rows(ctx, inputs))

    name = "gold_" + table.split(".", 1)[1]
    return Job(name, inputs, (table,), run, params=params, module=module, builder=builder, compute=compute)


def incremental_gold_job(
    module: ModuleType,
    builder: Callable[..., DataFrame],
    params: Callable[[JobContext], dict[str, Any]] = lambda ctx: {},
    reach: Callable[[dict[str, Any]], int] = lambda params: 0,
) -> Job:
    """A gold table of dates over incrementally written silver tables (`module.SOURCE_DATES`:
    each input, in the builder's order, and its date column): recomputes only the dates the
    silver increments since its last run touched, in any of its inputs.

    `reach(params)` is how many days one row's change can move results (0: a row only counts on
    its own date; for the cold chain, a reading changes its neighbours' values, and neighbours
    further than the gap break never matter): the affected dates are the touched ones ± reach, and
    they are computed from input dates ± reach more, so every row they need is read. With no usable
    increments (an input written by anything but a recorded increment since, e.g. a backfill, a
    full rebuild or a compaction) the whole table is rebuilt.
    """
    table: str = module.TABLE
    name = "gold_" + table.split(".", 1)[1]
    date_column: str = module.DATE_COLUMN
    sources: dict[str, str] = module.SOURCE_DATES
    inputs = tuple(sources)

    def touched_since(ctx: JobContext, versions: dict[str, int], fingerprint: str) -> set[dt.date] | None:
        """The dates the inputs' increments since the last run touched; None: rebuild whole."""
        increments = Increments(ctx.lake)
        marks = increments.last_inputs(name)
        if ctx.full or set(marks) != set(inputs) or not ctx.lake.partitioned_as(table, module.PARTITION_BY):
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

    def run(ctx: JobContext) -> JobOutcome:
        lake = ctx.lake
        versions = {source: lake.current_version(source) for source in inputs}
        settings = params(ctx)
        fingerprint = params_text(settings)
        days = reach(settings)
        touched = touched_since(ctx, versions, fingerprint) if days >= 0 else None
        written_before = lake.version(table)
        frames = [lake.read(source, versions[source]) for source in inputs]
        if touched is None:
            with ctx.alone():
                outcome = _write_gold(ctx, name, module, builder(*frames, **settings), count_rows(ctx, inputs))
            mode, dates = "full", []
        else:
            dates = sorted(_widen(touched, days))
            outcome = JobOutcome(note="incremental: no date touched")
            if dates:
                needed = sorted(_widen(set(dates), days))
                narrowed = [f.where(dates_predicate(sources[s], needed)) for s, f in zip(inputs, frames, strict=True)]
                result = builder(*narrowed, **settings).where(dates_predicate(date_column, dates))
                outcome = _replace_dates(ctx, name, module, result, dates)
            mode = "incremental"
        Increments(lake).record_inputs(
            name, {s: (v, None) for s, v in versions.items()}, table, dates, mode, outcome.rows_out, ctx.run_id,
            ctx.started_at, fingerprint, wrote=lake.version(table) != written_before,
        )
        return outcome

    def compute(ctx: JobContext) -> DataFrame:
        return builder(*(ctx.lake.read(source) for source in inputs), **params(ctx))

    return Job(name, inputs, (table,), run, params=params, module=module, builder=builder, compute=compute)


def _widen(dates: set[dt.date], days: int) -> set[dt.date]:
    return {d + dt.timedelta(days=k) for d in dates for k in range(-days, days + 1)}


def _write_gold(ctx: JobContext, name: str, module: ModuleType, result: DataFrame, rows_in: int) -> JobOutcome:
    """Replace the whole gold table with `result`, behind the quality gate."""
    table: str = module.TABLE
    with ctx.lake.staging() as stage:
        rows = ctx.gate.stage(result, stage, "rows")
        results = ctx.gate.check(name, module, rows)
        ctx.lake.overwrite(rows, table, module.PARTITION_BY)
    warnings = ctx.gate.commit(name, table, results)
    return JobOutcome(rows_in, ctx.lake.row_count(table), 0, warnings=describe_warnings(warnings))


def dates_predicate(column: str, dates: list[dt.date]) -> str:
    """`column IN (DATE '...', ...)`: a predicate both engines push down and `replaceWhere` takes."""
    literals = ", ".join("DATE '" + d.isoformat() + "'" for d in dates)
    return f"{column} IN ({literals})"


def _replace_dates(
    ctx: JobContext, name: str, module: ModuleType, result: DataFrame, dates: list[dt.date]
) -> JobOutcome:
    """Replace the rows of `dates` with `result` (rows of those dates only), behind the gate."""
    table: str = module.TABLE
    predicate = dates_predicate(module.DATE_COLUMN, dates)
    lake = ctx.lake
    with lake.staging() as stage:
        rows = lake.stage_frame(result, stage, "rows")
        new_rows = rows.count()
        replaced = lake.read(table).where(predicate).count()
        results = ctx.gate.check(name, module, rows, volume=lake.row_count(table) - replaced + new_rows)
        lake.replace_where(rows, table, predicate, module.PARTITION_BY)
    warnings = ctx.gate.commit(name, table, results)
    note = f"incremental: {len(dates)} date(s) recomputed"
    return JobOutcome(new_rows, new_rows, 0, note, describe_warnings(warnings))
