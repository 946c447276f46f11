"""The quality gate every silver and gold write goes through.

`QualityGate.check` runs, on the staged result of a transform and before anything is committed:
the table's suite (critical and warn expectations: evaluated by `lakehouse.quality.native` in one
query when it can, by Great Expectations otherwise), the outcome of each reject
rule (counted from the rejected rows), row volume against the table's trailing runs, and source
freshness. Any failed critical check records every outcome in `ops.dq_results` and raises
`QualityGateFailed`; the caller then writes nothing. Otherwise the caller writes and calls
`commit` to keep the outcomes with the Delta version it produced. Outcomes are written to
`ops.dq_results` in one commit per run (`flush`, called when the run ends, failed or not).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import statistics
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.clock import from_engine, naive_utc
from lakehouse.config import Config
from lakehouse.files import Location
from lakehouse.quality import filing, native, site
from lakehouse.quality import results as dq_results
from lakehouse.quality.checks import CheckResult, QualityGateFailed, failed_critical
from lakehouse.quality.event_time import reference_time
from lakehouse.quality.suites import Tagged, suite_checks, suite_for
from lakehouse.storage import Lake
from lakehouse.tables import TableSpec

if TYPE_CHECKING:
    from lakehouse.quality.expectations import ExpectationRunner


log = logging.getLogger(__name__)
_runners: dict[Path, ExpectationRunner] = {}


def runner_for(root: Path) -> ExpectationRunner:
    """The process's runner for the Great Expectations project under `root` (imported on first use)."""
    if root not in _runners:
        from lakehouse.quality.expectations import ExpectationRunner

        _runners[root] = ExpectationRunner(root)
    return _runners[root]


def publish_docs(root: Path) -> Path | None:
    """Bring the Data Docs site under `root` up to date (`ExpectationRunner.build_docs`); the path
    of its index page, None when nothing was ever filed.

    When this process validated nothing (a run that found no new data) and the site already shows
    everything filed, it is left as it is without importing Great Expectations (2.5 s): a
    `lakehouse run` with nothing to do on a scale-10 lake went from 5.3–5.8 s to 2.2–2.4 s. Runs
    filed without Great Expectations (`site.pending`) are turned into its results first."""
    if root not in _runners:
        if not (root / "gx").is_dir() and not site.pending(root):
            return None
        index = site.site_dir(root) / "index.html"
        if index.is_file() and not site.unrendered(root):
            return index
    return runner_for(root).build_docs()


def quality_dir(config: Config) -> Path:
    return config.data_dir / "quality"


def volume_check(table: str, rows: int, trailing: Sequence[int], drop_fraction: float) -> CheckResult:
    """Warn when `rows` is below (1 - drop_fraction) x the median of the trailing runs."""
    if not trailing:
        return CheckResult(table, "row_volume", "warn", True, str(rows))
    floor = (1 - drop_fraction) * statistics.median(trailing)
    return CheckResult(table, "row_volume", "warn", rows >= floor, str(rows), 0 if rows >= floor else 1)


def _as_time(value: dt.datetime | dt.date) -> dt.datetime:
    """A date as the end of that day (it stands for the whole day), a time as itself."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value + dt.timedelta(days=1), dt.time())


def freshness_check(
    table: str, newest: dt.datetime | dt.date | None, reference: dt.datetime, limit_h: float
) -> CheckResult:
    """Warn when the newest record is more than `limit_h` hours older than `reference`."""
    if newest is None:
        return CheckResult(table, "source_freshness", "warn", False, "no rows")
    newest = _as_time(newest)
    age_h = (reference - newest).total_seconds() / 3600
    observed = f"{age_h:.1f}h old (newest {newest:%Y-%m-%d %H:%M})"
    return CheckResult(table, "source_freshness", "warn", age_h <= limit_h, observed)


def reject_checks(table: str, rule_names: Sequence[str], rejects: DataFrame) -> list[CheckResult]:
    """One result per reject rule: passed when it rejected nothing; failing count = rows rejected."""
    counts = {r["rule"]: int(r["count"]) for r in rejects.groupBy("rule").count().collect()}
    names = list(dict.fromkeys([*rule_names, *sorted(counts)]))
    return [CheckResult(table, n, "reject", counts.get(n, 0) == 0, None, counts.get(n, 0)) for n in names]


def import_in_background() -> threading.Thread:
    """Start importing Great Expectations (2.5–3.5 s here, pure Python) in a thread, so it overlaps work
    that waits on the engine or on other processes; join the thread before the first check.

    Only the import: building the in-memory context looks for the active Spark session, which is
    the caller's thread's own, so that is left to the first check, in the caller's thread."""
    thread = threading.Thread(
        target=importlib.import_module, args=("lakehouse.quality.expectations",), name="import-gx", daemon=True
    )
    thread.start()
    return thread


class QualityGate:
    """Checks for one run: `check` before a write, `commit` after it."""

    def __init__(self, config: Config, lake: Lake, run_id: str, started_at: dt.datetime) -> None:
        self.config = config
        self.lake = lake
        self.run_id = run_id
        self.started_at = started_at
        self._runner: ExpectationRunner | None = None  # Great Expectations, from the first check on
        self._pending: list[pd.DataFrame] = []  # outcomes, written to ops.dq_results in one commit by `flush`
        self._filed: list[dict] = []  # suites evaluated natively, filed for Data Docs by `flush`
        self._volumes: dict[str, list[int]] | None = None
        self._importing: threading.Thread | None = None
        # Jobs of a run check from several threads; Great Expectations resolves everything through
        # one process-wide context, so its validations (and the state kept here) take turns; native
        # evaluations are queries of their own and run side by side.
        self._lock = threading.RLock()

    def prepare(self) -> None:
        """Checks are coming (new data is landing): import Great Expectations meanwhile, once."""
        with self._lock:
            if self.enabled and self._importing is None and self._runner is None:
                self._importing = import_in_background()

    @property
    def importing(self) -> bool:
        """Whether `prepare` started the import."""
        return self._importing is not None

    def _imported(self) -> None:
        if self._importing is not None:
            self._importing.join()

    @property
    def runner(self) -> ExpectationRunner:
        if self._runner is None:
            self._imported()
            self._runner = runner_for(quality_dir(self.config))
        return self._runner

    @property
    def reference_time(self) -> dt.datetime:
        """The run's reference time (`event_time.reference_time`), naive UTC like the times Spark returns."""
        return reference_time(self.config.pipeline.run_date, self.started_at).replace(tzinfo=None)

    def check(
        self,
        job: str,
        spec: TableSpec,
        rows: DataFrame,
        rejects: DataFrame | None = None,
        volume: int | None = None,
        newest_kept: dt.datetime | dt.date | None = None,
    ) -> list[CheckResult]:
        """Every check on `rows` (and `rejects`); raises QualityGateFailed on a critical failure.

        `volume` is the table's row count after the write when `rows` is only a part of it (an
        increment or a backfill); the volume check compares that, not the part, with past runs.
        Likewise `newest_kept` is the newest record (`spec.fresh_by`, naive UTC) of the rows the table keeps
        beside `rows`: freshness is that of the newest of both, the newest record the table will hold."""
        table = spec.name
        settings = self.config.quality
        if not settings.enabled:
            return []
        checks = suite_checks(spec)
        results = self._validate(spec, checks, rows)
        if rejects is not None:
            results += reject_checks(table, [r.name for r in spec.rules], rejects)
        fresh_by = spec.fresh_by
        stats = rows.agg(F.count(F.lit(1)), F.max(fresh_by) if fresh_by else F.lit(None)).first()
        count, newest = (int(stats[0]), stats[1]) if stats else (0, None)
        if isinstance(newest, dt.datetime):  # collected: local wall-clock time (lakehouse.clock)
            newest = naive_utc(from_engine(newest))
        if newest_kept is not None and (newest is None or _as_time(newest_kept) > _as_time(newest)):
            newest = newest_kept
        trailing = self._trailing_volumes().get(table, [])
        observed = count if volume is None else volume
        results.append(volume_check(table, observed, trailing, settings.volume_drop_fraction))
        if fresh_by:
            results.append(freshness_check(table, newest, self.reference_time, settings.freshness_limit_hours))
        failures = failed_critical(results)
        if failures:
            failures = [_with_examples(f, checks, rows, spec) for f in failures]
            self._keep(results, job, self.lake.version(table))
            raise QualityGateFailed(table, failures)
        return results

    def _validate(self, spec: TableSpec, checks: Sequence[Tagged], rows: DataFrame) -> list[CheckResult]:
        """The suite's outcomes: natively when every check can be, else through Great Expectations."""
        if native.evaluable(checks, rows):
            outcomes = native.evaluate(checks, rows)
            with self._lock:
                self._filed.append(filing.entry(spec.name, outcomes))
            return [o.to_check(spec.name) for o in outcomes]
        with self._lock:
            runner = self.runner  # Great Expectations imported (or the import started by `prepare` done)
            return runner.validate(suite_for(spec), rows, self.run_id)

    def _trailing_volumes(self) -> dict[str, list[int]]:
        with self._lock:
            if self._volumes is None:
                self._volumes = dq_results.trailing_volumes(self.lake, self.config.quality.volume_trailing_runs)
            return self._volumes

    def _keep(self, results: Sequence[CheckResult], job: str, version: int | None) -> None:
        if results:
            frame = dq_results.results_frame(results, self.run_id, job, version, self.started_at)
            with self._lock:
                self._pending.append(frame)

    def flush(self) -> None:
        """Write every outcome kept so far to ops.dq_results, in one commit; file the suites' results
        for Data Docs."""
        self._imported()  # not left running when the process ends
        with self._lock:
            filed, self._filed = self._filed, []
        if filed and self.config.quality.data_docs:
            try:
                filing.file_run(quality_dir(self.config), self.run_id, filed)
            except OSError as exc:  # Data Docs miss this run; its outcomes still reach ops.dq_results
                log.warning("quality results of run %s not filed for Data Docs: %s", self.run_id, exc)
        if self._runner is not None:  # no check ran otherwise: nothing to file
            if self.config.quality.data_docs:
                self._runner.persist()
            else:
                self._runner.discard()
        if self._pending:
            frames, self._pending = self._pending, []
            self.lake.append_pandas(pd.concat(frames, ignore_index=True), dq_results.SCHEMA, dq_results.TABLE)

    @property
    def enabled(self) -> bool:
        return self.config.quality.enabled

    def stage(self, frame: DataFrame, stage: Location, name: str) -> DataFrame:
        """`frame` computed once into Parquet for the checks to scan (as it is when checks are off)."""
        return self.lake.stage_frame(frame, stage, name) if self.enabled else frame

    def record(self, job: str, results: Sequence[CheckResult]) -> list[CheckResult]:
        """Record checks made outside `check` (e.g. on sources), per table; the failed warnings."""
        for table in dict.fromkeys(r.table for r in results):
            self.commit(job, table, [r for r in results if r.table == table])
        return [r for r in results if r.severity == "warn" and not r.passed]

    def commit(self, job: str, table: str, results: Sequence[CheckResult]) -> list[CheckResult]:
        """Keep `results` with the table's current (just written) Delta version; the failed warnings."""
        self._keep(results, job, self.lake.version(table))
        return [r for r in results if r.severity == "warn" and not r.passed]


def _with_examples(failure: CheckResult, checks: Sequence[Tagged], rows: DataFrame, spec: TableSpec) -> CheckResult:
    """A failure with up to three offending rows (personal columns left out) when the expectation
    says how to find them (`examples_where`)."""
    where = next((c.examples_where for c in checks if c.name == failure.rule), None)
    if not where:
        return failure
    hidden = set(spec.personal_columns)
    columns = [c for c in rows.columns if c not in hidden]
    found = rows.where(F.expr(where)).select(*columns).limit(3).collect()
    examples = tuple(json.dumps(r.asDict(), default=str) for r in found)
    return CheckResult(
        failure.table,
        failure.rule,
        failure.severity,
        False,
        failure.observed,
        failure.failing_count,
        examples or failure.examples,
    )
