"""Run jobs in dependency order, skip what has not changed, and keep a record of every run.

A transform job is skipped when the Delta versions of its inputs and its parameters equal those
of its last successful run (recorded in `ops.job_runs`), so `lakehouse run` twice in a row
changes nothing and `lakehouse run` after new source days recomputes only what they touch.
A failed job stops the jobs that depend on it; the others still run.

Jobs that do not depend on each other run at the same time, up to `pipeline.parallel_jobs` of
them (threads of this process sharing its session): a job starts as soon as every job of the run
that writes one of its inputs has finished. Writes to a table shared by several jobs
(`silver.rejects`, `bronze.quarantine`, the `ops` state) are one at a time (`Lake`), and so are
Great Expectations validations (`QualityGate`).
"""

from __future__ import annotations

import datetime as dt
import graphlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.config import Config
from lakehouse.files import unreachable
from lakehouse.jobs import JOBS, Job, JobContext, JobOutcome
from lakehouse.locking import lake_lock
from lakehouse.quality.checks import QualityGateFailed
from lakehouse.quality.native import great_expectations_needed
from lakehouse.quality.suites import suite_checks
from lakehouse.sources.app_db import SourceUnavailable
from lakehouse.storage import Lake, TableNotFound

log = logging.getLogger(__name__)

RUNS_TABLE = "ops.job_runs"
RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType()),
        StructField("job", StringType()),
        StructField("status", StringType()),
        StructField("fingerprint", StringType()),
        StructField("rows_in", LongType()),
        StructField("rows_out", LongType()),
        StructField("rejects", LongType()),
        StructField("duration_s", DoubleType()),
        StructField("note", StringType()),
        StructField("started_at", TimestampType()),  # the run's start
        StructField("job_started_at", TimestampType()),  # the job's own (jobs run side by side)
    ]
)


class UnknownJob(ValueError):
    """A job or layer name that is not in the catalogue."""


@dataclass(frozen=True)
class JobReport:
    job: str
    status: str  # ok | skipped | waiting | failed | blocked
    outcome: JobOutcome
    duration_s: float
    fingerprint: str = ""
    error: str = ""
    started_at: dt.datetime | None = None  # None: the job did not run (blocked, waiting)


class Outcomes:
    """What a run's reports add up to (a run of jobs, a backfill)."""

    reports: tuple[JobReport, ...]

    @property
    def failed(self) -> list[JobReport]:
        return [r for r in self.reports if r.status in ("failed", "blocked")]

    @property
    def waiting(self) -> list[JobReport]:
        """Jobs that could not run because an input does not exist yet: not a success either."""
        return [r for r in self.reports if r.status == "waiting"]

    @property
    def exit_code(self) -> int:
        """What a scheduler is told: 0 only when every requested job ran to its end (or had nothing
        to do); EXIT_FAILED when one failed or was blocked; EXIT_WAITING when none failed but one
        could not run for want of its input."""
        if self.failed:
            return EXIT_FAILED
        return EXIT_WAITING if self.waiting else 0


@dataclass(frozen=True)
class RunSummary(Outcomes):
    run_id: str
    reports: tuple[JobReport, ...]


# Exit codes of `lakehouse run` and of every `jobs/` entry point (3 is a busy lake: LakeBusy).
EXIT_FAILED = 1
EXIT_WAITING = 4


def written_by(table: str) -> str | None:
    """The job that writes `table` (None for tables several jobs share, or none)."""
    if table in SHARED_OUTPUTS:
        return None
    return next((job.name for job in JOBS.values() if table in job.outputs), None)


def _waiting_note(tables: Iterable[str]) -> str:
    parts = []
    for table in sorted(tables):
        maker = written_by(table)
        parts.append(f"{table} does not exist yet" + (f" (written by {maker})" if maker else ""))
    return "; ".join(parts)


# Tables several jobs write a part of: no job waits for another because of them.
SHARED_OUTPUTS = frozenset({"bronze.quarantine", "silver.rejects"})


def upstream_jobs(jobs: Iterable[Job]) -> dict[str, set[str]]:
    """For each of `jobs`, the others among them that write one of its inputs."""
    jobs = list(jobs)
    writers = {out: job.name for job in jobs for out in job.outputs if out not in SHARED_OUTPUTS}
    return {job.name: {writers[t] for t in job.inputs if writers.get(t, job.name) != job.name} for job in jobs}


def _sorter(jobs: Sequence[Job]) -> graphlib.TopologicalSorter[str]:
    """A prepared topological sorter of `jobs` by which job writes which table."""
    sorter = graphlib.TopologicalSorter(upstream_jobs(jobs))
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        raise RuntimeError(f"job dependencies form a cycle: {cycle.args[1]}") from None
    return sorter


def order_jobs(selected: Iterable[Job]) -> list[Job]:
    """Topological order of `selected`, by which job writes which table (catalogue order on ties)."""
    jobs = list(selected)
    rank = {job.name: i for i, job in enumerate(jobs)}
    sorter = _sorter(jobs)
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=rank.__getitem__)
        ordered += ready
        sorter.done(*ready)
    return [jobs[rank[name]] for name in ordered]


def select_jobs(names: Sequence[str]) -> list[Job]:
    """Jobs by name or layer (`bronze`, `silver`, `gold`); all jobs when `names` is empty."""
    if not names:
        return order_jobs(JOBS.values())
    chosen: dict[str, Job] = {}
    for name in names:
        matches = [j for j in JOBS.values() if j.name == name or j.layer == name]
        if not matches:
            raise UnknownJob(f"unknown job '{name}'; jobs: {', '.join(JOBS)} (or a layer: bronze, silver, gold)")
        chosen.update({j.name: j for j in matches})
    return order_jobs(chosen.values())


def downstream_jobs(table: str) -> list[Job]:
    """Every job that reads `table`, directly or through other jobs' outputs, in run order."""
    tables, chosen = {table}, {}
    changed = True
    while changed:
        changed = False
        for job in JOBS.values():
            if job.name not in chosen and tables & set(job.inputs):
                chosen[job.name] = job
                tables |= set(job.outputs) - SHARED_OUTPUTS
                changed = True
    return order_jobs(chosen.values())


def _last_fingerprints(lake: Lake) -> dict[str, str]:
    if not lake.exists(RUNS_TABLE):
        return {}
    rows = lake.rows(RUNS_TABLE, [("status", "=", "ok")], ["job", "fingerprint", "started_at"])
    return {r["job"]: r["fingerprint"] for r in sorted(rows, key=lambda r: r["started_at"])}


def fingerprint(job: Job, ctx: JobContext) -> str:
    versions = {table: ctx.lake.version(table) for table in job.inputs}
    params = {k: str(v) for k, v in job.params(ctx).items()}
    return json.dumps({"inputs": versions, "params": params}, sort_keys=True)


def _run_one(job: Job, ctx: JobContext, previous: dict[str, str]) -> JobReport:
    with ctx.turns.working():
        started = dt.datetime.now(dt.UTC)
        return replace(_run_timed(job, ctx, previous), started_at=started)


def _run_timed(job: Job, ctx: JobContext, previous: dict[str, str]) -> JobReport:
    start = time.perf_counter()
    try:
        mark = "" if job.incremental_source else fingerprint(job, ctx)
        outputs_exist = all(ctx.lake.exists(t) for t in job.outputs if t != "bronze.quarantine")
        if mark and outputs_exist and previous.get(job.name) == mark and not ctx.full:
            return JobReport(job.name, "skipped", JobOutcome(note="inputs unchanged"), 0.0, mark)
        outcome = job.run(ctx)
        return JobReport(job.name, "ok", outcome, time.perf_counter() - start, mark)
    except TableNotFound as exc:
        maker = written_by(exc.table) if exc.table else None
        note = str(exc) + (f" (written by {maker})" if maker else "")
        return JobReport(job.name, "waiting", JobOutcome(note=note), time.perf_counter() - start)
    except QualityGateFailed as exc:  # nothing was written; the message names rules, counts and examples
        return JobReport(job.name, "failed", JobOutcome(), time.perf_counter() - start, error=str(exc))
    except Exception as exc:
        problem = unreachable(ctx.config.lake, ctx.config.landing)
        if problem is not None:  # the store went away (or refuses us): that is the error, in one line
            log.error("job %s failed: %s", job.name, problem)
            return JobReport(job.name, "failed", JobOutcome(), time.perf_counter() - start, error=str(problem))
        if isinstance(exc, SourceUnavailable):  # its message names the source and the cause
            log.debug("job %s failed", job.name, exc_info=True)
        else:
            log.exception("job %s failed", job.name)
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return JobReport(job.name, "failed", JobOutcome(), time.perf_counter() - start, error=error)


def _checked_by_gx(job: Job) -> bool:
    """Whether `job` is a transform whose suite goes through Great Expectations (`quality.native`
    evaluates the others without it); a job without a spec may check anything, so it counts."""
    if job.incremental_source:
        return False
    return job.spec is None or great_expectations_needed(suite_checks(job.spec))


def _landed(job: Job, report: JobReport) -> bool:
    """An ingestion job that brought new records (or rejects) in."""
    return job.incremental_source and report.status == "ok" and bool(report.outcome.rows_in)


def record_reports(lake: Lake, run_id: str, started: dt.datetime, reports: Sequence[JobReport]) -> None:
    rows = [
        (
            run_id,
            r.job,
            r.status,
            r.fingerprint,
            r.outcome.rows_in,
            r.outcome.rows_out,
            r.outcome.rejects,
            round(r.duration_s, 3),
            r.error or r.outcome.note,
            started.replace(tzinfo=None),
            r.started_at.astimezone(dt.UTC).replace(tzinfo=None) if r.started_at else None,
        )
        for r in reports
    ]
    lake.append_rows(rows, RUNS_SCHEMA, RUNS_TABLE)


def _record_run(config: Config, write: Callable[[], None]) -> None:
    """Write the run's records, unless the object store they go to has gone away (then say so in
    one line: the jobs' own reports already name it)."""
    try:
        write()
    except Exception:
        problem = unreachable(config.lake)
        if problem is None:
            raise
        log.error("run records not written: %s", problem)


def run_jobs(
    config: Config,
    lake: Lake,
    jobs: Sequence[Job],
    on_start: Callable[[Job], None] = lambda job: None,
    on_done: Callable[[JobReport], None] = lambda report: None,
    wait_seconds: float = 0.0,
    full: bool = False,
) -> RunSummary:
    """Run `jobs` in order, holding the lake's write lock (waiting up to `wait_seconds` for it; else
    LakeBusy); a job whose upstream failed in this run is reported as blocked."""
    with lake_lock(config.data_dir, wait_seconds, config.lake, config.storage.lock_lease_seconds):
        return _run_locked(config, lake, jobs, on_start, on_done, full)


def _run_locked(
    config: Config,
    lake: Lake,
    jobs: Sequence[Job],
    on_start: Callable[[Job], None],
    on_done: Callable[[JobReport], None],
    full: bool = False,
) -> RunSummary:
    started = dt.datetime.now(dt.UTC)
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    ctx = JobContext(config, lake, run_id, started, full, checks_follow=any(_checked_by_gx(j) for j in jobs))
    gate = ctx.gate  # made here, before jobs share it from several threads
    previous = _last_fingerprints(lake)
    finished: dict[str, JobReport] = {}
    try:
        for job, report in _schedule(jobs, ctx, previous, config.pipeline.parallel_jobs, on_start):
            finished[job.name] = report
            on_done(report)
            if _landed(job, report) and any(_checked_by_gx(j) for j in jobs if j.name not in finished):
                gate.prepare()  # transforms will check what landed with Great Expectations: imported meanwhile
    finally:
        _record_run(config, lambda: gate.flush())
        if finished:
            _record_run(config, lambda: record_reports(lake, run_id, started, list(finished.values())))
    return RunSummary(run_id, tuple(finished[j.name] for j in jobs if j.name in finished))


def _schedule(
    jobs: Sequence[Job], ctx: JobContext, previous: dict[str, str], workers: int, on_start: Callable[[Job], None]
) -> Iterator[tuple[Job, JobReport]]:
    """Run `jobs`, up to `workers` at a time, each once the jobs writing its inputs have ended;
    yield each with its report as it ends. A job whose upstream failed is `blocked`, one whose
    upstream has no data yet is `waiting`, without running. With one worker, jobs run one after
    the other in the order given."""
    sorter = _sorter(jobs)
    rank = {job.name: i for i, job in enumerate(jobs)}
    ready: list[Job] = []  # upstream ended, not started: in the order given
    running: dict[Future[JobReport], Job] = {}
    broken: set[str] = set()  # tables an upstream job failed to produce in this run
    absent: set[str] = set()  # tables whose sources have not delivered anything yet

    def end(job: Job, report: JobReport) -> tuple[Job, JobReport]:
        if report.status in ("failed", "blocked"):
            broken.update(set(job.outputs) - SHARED_OUTPUTS)
        elif report.status == "waiting":
            absent.update(set(job.outputs) - SHARED_OUTPUTS)
        sorter.done(job.name)
        return job, report

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="job") as pool:
        while sorter.is_active():
            ready = sorted(ready + [jobs[rank[name]] for name in sorter.get_ready()], key=lambda j: rank[j.name])
            while ready and len(running) < workers:
                job = ready.pop(0)
                if broken & set(job.inputs):
                    yield end(job, JobReport(job.name, "blocked", JobOutcome(), 0.0, error="an upstream job failed"))
                elif absent & set(job.inputs):
                    note = _waiting_note(absent & set(job.inputs))
                    yield end(job, JobReport(job.name, "waiting", JobOutcome(note=note), 0.0))
                else:
                    on_start(job)
                    running[pool.submit(_run_one, job, ctx, previous)] = job
            if running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: rank[running[f].name]):
                    job = running.pop(future)
                    yield end(job, future.result())
