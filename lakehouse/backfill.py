"""`lakehouse backfill --from D1 --to D2 [JOB ...]`: recompute the rows of a date range.

For each date-keyed job (its table's spec names a `date_column`), in dependency order: the job's
whole result is computed from the current inputs, the rows of the range are kept, checked by the
quality gate and written over the range in one commit (`replaceWhere`). Rows outside the range
are not touched, and a backfill run twice writes the same rows twice: it is idempotent.

Typical uses: after a fix to a transform or a change of a parameter (say the cold-chain limit),
recompute the dates it should apply to; after a source correction, recompute the dates it covers.
Silver rejects are left as they are (the rules that made them did not change).

A backfilled table is no longer the sum of its recorded increments, so the next incremental run
of the gold jobs over it rebuilds them whole (see `lakehouse.incremental`).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.jobs import JOBS, Job, JobContext, JobOutcome
from lakehouse.locking import lake_lock
from lakehouse.pipeline import JobReport, Outcomes, UnknownJob, order_jobs, record_reports
from lakehouse.quality.checks import QualityGateFailed
from lakehouse.quality.rules import Built
from lakehouse.storage import Lake


class NotDateKeyed(ValueError):
    """A job whose table has no date column to backfill by."""


def date_keyed_jobs() -> list[Job]:
    return [j for j in JOBS.values() if j.spec is not None and j.spec.date_column]


def select_backfill_jobs(names: Sequence[str]) -> list[Job]:
    """The named jobs (or layers), every date-keyed job when none is named; in run order."""
    keyed = {j.name: j for j in date_keyed_jobs()}
    if not names:
        return order_jobs(keyed.values())
    chosen: dict[str, Job] = {}
    for name in names:
        matches = [j for j in JOBS.values() if j.name == name or j.layer == name]
        if not matches:
            raise UnknownJob(f"unknown job '{name}'; date-keyed jobs: {', '.join(keyed)}")
        for job in matches:
            if job.name not in keyed:
                if job.name == name:
                    raise NotDateKeyed(
                        f"{name} has no date column to backfill by; date-keyed jobs: {', '.join(keyed)}"
                    )
                continue  # a layer: its date-keyed jobs only
            chosen[job.name] = job
    return order_jobs(chosen.values())


@dataclass(frozen=True)
class BackfillSummary(Outcomes):
    run_id: str
    start: dt.date
    end: dt.date
    reports: tuple[JobReport, ...]


def range_predicate(column: str, start: dt.date, end: dt.date) -> str:
    return f"{column} >= DATE '{start.isoformat()}' AND {column} <= DATE '{end.isoformat()}'"


def backfill_job(ctx: JobContext, job: Job, start: dt.date, end: dt.date) -> JobOutcome:
    """Recompute `job`'s rows dated `start`..`end` (inclusive) and write them over that range."""
    spec, lake = job.spec, ctx.lake
    assert spec is not None and spec.date_column and job.compute is not None, f"{job.name} is not dated"
    table = spec.name
    predicate = range_predicate(spec.date_column, start, end)
    result = job.compute(ctx)
    rows: DataFrame = result.rows if isinstance(result, Built) else result
    with lake.staging() as stage:
        staged = lake.stage_frame(rows.where(predicate), stage, "rows")
        written = staged.count()
        distinct = staged.select(F.countDistinct(spec.date_column)).first()
        days = int(distinct[0]) if distinct else 0
        replaced = lake.read(table).where(predicate).count() if lake.exists(table) else 0
        total = (lake.row_count(table) if lake.exists(table) else 0) - replaced + written
        results = ctx.gate.check(f"backfill_{job.name}", spec, staged, volume=total)
        lake.replace_where(staged, table, predicate, spec.partition_by)
    ctx.gate.commit(f"backfill_{job.name}", table, results)
    return JobOutcome(replaced, written, 0, f"backfill {start}..{end}: {days} date(s)")


def backfill(
    config: Config, lake: Lake, jobs: Sequence[Job], start: dt.date, end: dt.date, wait_seconds: float = 0.0
) -> BackfillSummary:
    """Backfill `jobs` in order over `start`..`end`; a failed job stops the ones after it."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    with lake_lock(config.data_dir, wait_seconds, config.lake, config.storage.lock_lease_seconds):
        started = dt.datetime.now(dt.UTC)
        run_id = f"backfill-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        ctx = JobContext(config, lake, run_id, started)
        reports: list[JobReport] = []
        try:
            for job in jobs:
                clock = time.perf_counter()
                if any(r.status == "failed" for r in reports):
                    reports.append(JobReport(job.name, "blocked", JobOutcome(), 0.0, error="an earlier job failed"))
                    continue
                try:
                    outcome = backfill_job(ctx, job, start, end)
                    reports.append(JobReport(job.name, "backfilled", outcome, time.perf_counter() - clock))
                except QualityGateFailed as exc:  # nothing written; the message names rules and examples
                    elapsed = time.perf_counter() - clock
                    reports.append(JobReport(job.name, "failed", JobOutcome(), elapsed, error=str(exc)))
                except Exception as exc:  # reported with the job; its table keeps its version
                    error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    elapsed = time.perf_counter() - clock
                    reports.append(JobReport(job.name, "failed", JobOutcome(), elapsed, error=error))
        finally:
            ctx.gate.flush()
            if reports:
                record_reports(lake, run_id, started, reports)
    return BackfillSummary(run_id, start, end, tuple(reports))
