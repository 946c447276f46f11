"""Bronze ingestion: read each source, parse, append to bronze and quarantine, record state.

Each batch has a deterministic `_batch_id` derived from what it ingests. The order of commits is
data first, state last; a rerun after a crash recomputes the same batch id, deletes whatever the
crashed attempt appended, and appends again. So every ingestion is idempotent even though Sail
ignores Delta's `txnAppId`/`txnVersion`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import orjson
import pandas as pd
import pyarrow as pa
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse import incremental
from lakehouse.arrowio import arrow_schema, to_arrow, write_parquet
from lakehouse.bronze import app_tables, events, fx_rates, quarantine, sales_targets, telemetry
from lakehouse.bronze.jsonl import parse_json_table
from lakehouse.bronze.records import (
    Rejected,
    field_dtypes,
    records_frame,
    with_constants,
    with_ingestion_columns,
)
from lakehouse.config import Config
from lakehouse.files import Location
from lakehouse.quality.checks import CheckResult, QualityGateFailed, failed_critical
from lakehouse.quality.source_schema import source_column_checks, value_type_changed
from lakehouse.sources import app_db, landing
from lakehouse.sources.app_contract import APP_TABLES, AppTable
from lakehouse.sources.found import fx_rates_file, sqlite_file
from lakehouse.sources.fx_api import BadAnswer, FxClient
from lakehouse.state import FileRecord, IngestState, LedgerEntry
from lakehouse.storage import Lake

log = logging.getLogger(__name__)

# One batch holds at most this many landed files; larger backlogs are ingested in several batches.
MAX_FILES_PER_BATCH = 400
# From this many bytes of new files on, they are parsed in worker processes (one per core), forked
# from a server process that imported the parser once: parsing holds Python's lock, which the jobs
# running beside it (the app extraction, the import of the checks) need too. A day of clickstream
# at scale 10 (34 files, 68 MB): the whole `lakehouse run` took 14.2-15.3 s with forked workers,
# 16.0-16.5 s parsing in this process and 15.6-16.2 s with workers started from scratch (each
# imports the library again, 1 s apiece). Below it, the server's start is not worth it.
WORKER_PARSE_BYTES = 4 * 1024 * 1024
# From this many on (a first build's backlog), the workers take every core: the parse works alone.
ALONE_PARSE_BYTES = 256 * 1024 * 1024


class Run(Protocol):
    """What an ingestion tells the run it is part of (`JobContext` is one)."""

    def landing(self) -> None:
        """New records are about to land (the run prepares the checks that will look at them)."""

    def alone(self) -> contextlib.AbstractContextManager[None]:
        """Around work that needs the machine to itself: a backlog parsed in worker processes."""


class _NoRun:
    """An ingestion called on its own (a script, a test): nobody to tell, nothing beside it."""

    def landing(self) -> None:
        pass

    def alone(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


NO_RUN: Run = _NoRun()


@dataclass(frozen=True)
class IngestResult:
    records: int = 0
    rejected: int = 0
    batches: int = 0
    skipped_files: int = 0  # versions whose bytes were ingested before (re-deliveries): not read
    checks: tuple[CheckResult, ...] = ()  # source checks (schema) to record with the run

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(
            self.records + other.records,
            self.rejected + other.rejected,
            self.batches + other.batches,
            self.skipped_files + other.skipped_files,
            self.checks + other.checks,
        )


def batch_id_for(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:20]


def _clear_partial_batch(lake: Lake, tables: Sequence[str], batch_id: str) -> None:
    """Begin a batch that appends to `tables` (the first is the source's bronze table).

    First the rows of every batch of the same source that was begun but never reached the ledger
    (a crashed or failed attempt, whatever its id) are removed from each table it named; then this
    batch is journalled, before any of its rows is written. See `lakehouse.state`."""
    state = IngestState(lake)
    source = tables[0]
    at = dt.datetime.now(dt.UTC)
    for batch in state.unfinished_batches(source):
        for table in batch.tables:
            if lake.exists(table):
                log.warning("removing the rows of the unfinished batch %s from %s", batch.batch_id, table)
                lake.delete_where(table, f"_batch_id = '{batch.batch_id}'")
        state.journal_batch(source, batch.batch_id, batch.tables, "rolled_back", at)
    state.journal_batch(source, batch_id, tables, "started", at)


def _append_quarantine(lake: Lake, rejected: Sequence[Rejected], batch_id: str, at: dt.datetime) -> None:
    if not rejected:
        return
    frame, origin = quarantine.quarantine_frame(rejected)
    lake.append_pandas(with_ingestion_columns(frame, origin, batch_id, at), quarantine.SCHEMA, quarantine.TABLE)


# -- landing files (clickstream, telemetry) --------------------------------------------------
def _relative(path: Location, root: Location) -> str:
    return path.relative_to(root)


# A file's mtime is kept in the ledger (and an unchanged size and mtime spare reading it again)
# only when it is this much older than the moment it was looked at: a change within the same
# tick of the file system's clock could otherwise keep both.
_SETTLED_NS = 2_000_000_000


@dataclass(frozen=True)
class _Pending:
    """A version of a landed file the ledger does not hold yet (a new file, or a changed one)."""

    path: Location
    origin: str  # the path relative to the sources folder: `_source` and the ledger's path
    content_hash: str
    size: int
    modified_ns: int | None
    previous: LedgerEntry | None  # the path's latest version in the ledger

    def record(self, status: str, records: int, rejected: int) -> FileRecord:
        previous = self.previous
        return FileRecord(self.origin, self.content_hash, status, records, rejected, self.size,
                          previous.version + 1 if previous else 1, previous.content_hash if previous else None,
                          self.modified_ns)


def _new_files(
    state: IngestState, source: str, root: Location, sources_dir: Location
) -> tuple[list[_Pending], list[FileRecord]]:
    """Every landed file whose content is not the latest version the ledger holds for its path;
    and the files whose content is that version under another mtime (uploaded again with the same
    bytes), to record as seen.

    Change is told by content: a file whose size and mtime are those recorded is not read again
    (see `_SETTLED_NS`); any other is read and hashed, so a rewrite of the same size is noticed,
    and a new mtime on the same bytes (a re-upload, a `touch`) is no change. Its mtime is then
    recorded (`unchanged`), so that the next run does not read it again."""
    latest = state.latest_files(source)
    pending, unchanged = [], []
    for entry in landing.list_landing_files(root):
        path = entry.location
        origin = _relative(path, sources_dir)
        known = latest.get(origin)
        if known and known.modified_ns is not None and (known.size, known.modified_ns) == (entry.size, entry.mtime_ns):
            continue
        content = path.read_bytes()
        digest = landing.content_hash(content)
        mtime = entry.mtime_ns
        settled = mtime is not None and time.time_ns() - mtime > _SETTLED_NS and entry.size == len(content)
        if known and known.content_hash == digest:
            if settled:
                unchanged.append(FileRecord(origin, digest, "unchanged", 0, 0, len(content), known.version, None,
                                            mtime))
            continue
        pending.append(_Pending(path, origin, digest, len(content), mtime if settled else None, known))
    return pending, unchanged


@dataclass(frozen=True)
class _StageTask:
    table: str  # module name under lakehouse.bronze
    file: _Pending
    part: Location
    batch_id: str
    at: dt.datetime


class LandingFileChanged(RuntimeError):
    """A landed file changed between its listing and its parse; the next run reads it."""


def _appended_part(old: bytes, new: bytes) -> tuple[int, int]:
    """Where the lines `new` adds to `old` (a prefix of it) start, and that line's number.

    A last line of `old` without its newline was read as it stood (a writer may never end its
    file with one). When the appended bytes complete it, the completed line is read again in
    full, with its number (its cut piece stays where its own parse put it); when they start with
    the newline it lacked, it was whole and is not read twice."""
    complete_lines = old.count(b"\n")
    cut = old.rfind(b"\n") + 1  # where the last line of `old` starts
    if cut == len(old):
        return len(old), complete_lines + 1
    end = new.find(b"\n", cut)
    line = new[cut:] if end < 0 else new[cut:end]
    if line.removesuffix(b"\r") == old[cut:].removesuffix(b"\r"):
        return (len(new) if end < 0 else end + 1), complete_lines + 2
    return cut, complete_lines + 1


def _unreadable(task: _StageTask, source: str, problem: str) -> tuple[FileRecord, list[Rejected]]:
    """The whole version to quarantine, with what it takes to find it again and check it is it."""
    file = task.file
    raw = orjson.dumps({"path": file.origin, "size": file.size, "sha256": file.content_hash}).decode()
    reason = (f"unreadable file {file.origin} ({file.size} bytes, sha256 {file.content_hash}): {problem}; "
              "quarantined whole, its bytes stay in the landing zone")
    return file.record("unreadable", 0, 1), [Rejected(source, file.origin, 0, raw, reason)]


def _stage_file(task: _StageTask) -> tuple[FileRecord, list[Rejected]]:
    """Parse one version of a landed file (only its new lines when it was appended to) and write
    its rows as a Parquet part (runs in a worker process)."""
    table = importlib.import_module(f"lakehouse.bronze.{task.table}")
    file = task.file
    content = file.path.read_bytes(file.size)  # the version listed, though a writer may be appending
    if landing.content_hash(content) != file.content_hash:
        raise LandingFileChanged(f"{file.origin} changed while it was ingested; the next ingestion reads it")
    try:
        text = landing.decoded(content)
    except landing.Unreadable as exc:
        return _unreadable(task, table.SOURCE, str(exc))
    status, first_line = ("rewritten" if file.previous else "ingested"), 1
    previous = file.previous
    if previous is not None and previous.size is not None and previous.size <= file.size and (
        landing.content_hash(content[: previous.size]) == previous.content_hash
    ):
        with contextlib.suppress(landing.Unreadable):
            old = landing.decoded(content[: previous.size])
            if text.startswith(old):
                start, first_line = _appended_part(old, text)
                status, text = "appended", text[start:]
    parsed, bad = parse_json_table(text, table.FIELDS, table.SOURCE, file.origin, first_line)
    if parsed.num_rows:
        at = task.at if task.at.tzinfo else task.at.replace(tzinfo=dt.UTC)  # naive: UTC, as elsewhere
        constants = {"_file_date": landing.file_date(file.path), "_ingested_at": at.astimezone(dt.UTC),
                     "_source": file.origin, "_batch_id": task.batch_id}
        write_parquet(with_constants(parsed, arrow_schema(table.SCHEMA), constants), task.part)
    return file.record(status, parsed.num_rows, len(bad)), bad


def _workers_context() -> multiprocessing.context.BaseContext:
    """Worker processes forked from a server process that has imported this module (not forked
    from this one: the embedded engine runs threads here); started from scratch where there is no
    such server (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _stage_files(tasks: Sequence[_StageTask], run: Run) -> list[tuple[FileRecord, list[Rejected]]]:
    """Parse files in worker processes: JSON parsing is the CPU-bound part of ingestion, one file
    per task. A backlog works alone: its workers take every core, and a first build's other
    extractions beside it only added to the peak memory (5.0 GB against 4.2 GB at scale 10)."""
    size = sum(t.file.size for t in tasks)
    if len(tasks) < 2 or size < WORKER_PARSE_BYTES:
        return [_stage_file(t) for t in tasks]  # starting worker processes costs more than it saves
    workers = min(len(tasks), os.cpu_count() or 1)
    alone = run.alone() if size >= ALONE_PARSE_BYTES else contextlib.nullcontext()
    try:
        with alone, ProcessPoolExecutor(workers, mp_context=_workers_context()) as pool:
            return list(pool.map(_stage_file, tasks, chunksize=max(1, len(tasks) // (4 * workers))))
    except BrokenProcessPool as exc:
        # e.g. a script importing the library without an `if __name__ == "__main__":` guard
        log.warning("parsing in this process: worker processes could not run (%s)", exc)
        return [_stage_file(t) for t in tasks]


def _split_redeliveries(
    pending: Sequence[_Pending], seen_hashes: set[str]
) -> tuple[list[_Pending], list[FileRecord]]:
    """New content to ingest, and versions whose bytes were ingested before (under this or another
    name: a re-delivery, or a file changed back to an earlier version)."""
    fresh, duplicates = [], []
    for file in pending:
        if file.content_hash in seen_hashes:
            log.info("skipping %s: same content as a file ingested before", file.origin)
            duplicates.append(file.record("duplicate", 0, 0))
        else:
            seen_hashes.add(file.content_hash)
            fresh.append(file)
    return fresh, duplicates


def ingest_landing(
    lake: Lake, table: ModuleType, root: Location | Path, sources_dir: Location | Path, at: dt.datetime,
    run: Run = NO_RUN
) -> IngestResult:
    """Ingest the landing files under `root` into `table.TABLE`: new files, and files changed since
    their last version in the ledger (only the lines appended, or the whole file rewritten)."""
    state = IngestState(lake)
    result = IngestResult()
    pending, unchanged = _new_files(state, table.SOURCE, Location.of(root), Location.of(sources_dir))
    if unchanged:  # nothing lands: no batch, only the ledger learns their new mtimes
        log.info("%d file(s) uploaded again with the bytes already ingested: recorded, not read again",
                 len(unchanged))
        seen = batch_id_for(table.TABLE, "unchanged", *sorted(f"{f.path}@{f.modified_ns}" for f in unchanged))
        state.record_files(table.SOURCE, unchanged, seen, at)
    seen_hashes = state.known_hashes(table.SOURCE) if pending else set()
    module = table.__name__.rsplit(".", 1)[1]
    for start in range(0, len(pending), MAX_FILES_PER_BATCH):
        chunk = pending[start : start + MAX_FILES_PER_BATCH]
        fresh, duplicates = _split_redeliveries(chunk, seen_hashes)
        if fresh:
            run.landing()
        # Relative paths and content hashes: the same versions give the same batch ids wherever the
        # data directory is.
        batch_id = batch_id_for(table.TABLE, *sorted(f"{f.origin}@{f.content_hash}" for f in chunk))
        _clear_partial_batch(lake, [table.TABLE, quarantine.TABLE], batch_id)
        with lake.staging() as stage:
            tasks = [_StageTask(module, file, stage / f"part-{i:05d}.parquet", batch_id, at)
                     for i, file in enumerate(fresh)]
            staged = _stage_files(tasks, run)
            lake.append_staged(stage, table.SCHEMA, table.TABLE, table.PARTITION_BY)
        rejected = [r for _, bad in staged for r in bad]
        _append_quarantine(lake, rejected, batch_id, at)
        state.record_files(table.SOURCE, [record for record, _ in staged] + duplicates, batch_id, at)
        result += IngestResult(sum(r.records for r, _ in staged), len(rejected), 1, len(duplicates))
    return result


def ingest_clickstream(lake: Lake, config: Config, at: dt.datetime, run: Run = NO_RUN) -> IngestResult:
    return ingest_landing(lake, events, config.landing / "clickstream", config.landing, at, run)


def ingest_telemetry_files(
    lake: Lake, config: Config, at: dt.datetime, run: Run = NO_RUN
) -> IngestResult:
    return ingest_landing(lake, telemetry, config.landing / "telemetry", config.landing, at, run)


# -- app database ------------------------------------------------------------------------------
# Erasure requests are extracted and committed first and on their own: a privacy request is never
# held back by a bad row in another table. The other tables refer to each other (an order's lines,
# its customer, its products), so they move together: all of them are extracted and checked
# before any is written, and none is written when one fails its checks.
ERASURES = "erasure_requests"
LINKED_APP_TABLES = tuple(name for name in APP_TABLES if name != ERASURES)


@dataclass(frozen=True)
class _Extract:
    """One app table's changes since its watermark, checked and typed, not yet written."""

    name: str
    rows: pa.Table  # in the bronze table's schema, ingestion columns included
    since: str | None
    until: str | None  # the new watermark; None when nothing changed
    batch_id: str
    checks: tuple[CheckResult, ...]


_STAMP = "%Y-%m-%d %H:%M:%S"  # the change columns' text form (lakehouse.sources.app_db)
_EPOCH = "1970-01-01 00:00:00"


@dataclass(frozen=True)
class _Window:
    """Where an app table's extract starts and how far its watermark may move."""

    since: str | None  # the watermark
    start: str | None  # the extract's inclusive lower bound: the watermark less the look-back
    ceiling: str  # the run's time: the watermark never passes it, so a row stamped ahead hides nothing
    future: str  # the run's time plus the allowed skew: rows stamped after it are reported

    @classmethod
    def of(cls, since: str | None, at: dt.datetime, lookback_s: int, skew_h: float) -> _Window:
        start = None
        if since is not None:
            start = (dt.datetime.strptime(since, _STAMP) - dt.timedelta(seconds=lookback_s)).strftime(_STAMP)
        now = at.astimezone(dt.UTC)
        return cls(since, start, now.strftime(_STAMP), (now + dt.timedelta(hours=skew_h)).strftime(_STAMP))


def _already_extracted(lake: Lake, table: AppTable, target: str, frame: pd.DataFrame,
                       start: str | None) -> pd.Series:
    """Rows of `frame` that bronze already holds as their key's latest version, value for value.

    The extract reads again from before its watermark (`>= start`: a change in the watermark's own
    second, a change committed late with an older stamp, a row stamped in the future that the
    watermark may not pass). Of those, a row equal to the newest version bronze holds of its key in
    that window is not new; one that differs is a change, even back to an older value."""
    if start is None or frame.empty or not lake.exists(target):
        return pd.Series(False, index=frame.index)
    filters: list[tuple[str, str, Any]] = [(table.change_column, ">=", start)]
    if app_tables.PARTITION_BY.get(table.name) == ["_updated_date"]:
        filters.insert(0, ("_updated_date", ">=", start[:10]))
    columns = list(table.columns)
    latest: dict[tuple, tuple[Any, tuple]] = {}
    for row in lake.rows(target, filters, [*columns, "_ingested_at"]):
        key = tuple(row[c] for c in table.key)
        if key not in latest or row["_ingested_at"] >= latest[key][0]:
            latest[key] = (row["_ingested_at"], tuple(row[c] for c in columns))
    values = pa.Table.from_pandas(frame[columns], preserve_index=False).to_pylist()
    held = [tuple(r[c] for c in columns) == latest.get(tuple(r[c] for c in table.key), (None, None))[1]
            for r in values]
    return pd.Series(held, index=frame.index)


def _stamp_checks(target: str, table: AppTable, frame: pd.DataFrame, unstamped: int,
                  window: _Window) -> list[CheckResult]:
    """Warnings for rows the watermark cannot follow: stamped after the run, or not stamped at all."""
    ahead = int(frame[table.change_column].map(lambda v: isinstance(v, str) and v > window.future).sum())
    return [
        CheckResult(target, "change_stamp_in_future", "warn", not ahead,
                    f"{ahead} row(s) with {table.change_column} after {window.future} UTC (extracted; the "
                    "watermark stays at the run's time)" if ahead else None, ahead),
        CheckResult(target, "change_stamp_missing", "warn", not unstamped,
                    f"{unstamped} row(s) with no {table.change_column}: an incremental extract cannot read them"
                    if unstamped else None, unstamped),
    ]


def _extract_app_table(lake: Lake, engine: Any, name: str, at: dt.datetime, config: Config) -> _Extract:
    """Check and extract one app table's changes; raises QualityGateFailed, writes nothing."""
    state = IngestState(lake)
    table = APP_TABLES[name]
    key = f"app_db.{name}"
    target = app_tables.bronze_table(name)
    kinds = app_db.column_kinds(engine, table)
    checks = source_column_checks(target, table, kinds)
    if failed_critical(checks):
        raise QualityGateFailed(target, failed_critical(checks), checks)
    extras = tuple(c for c in kinds if c not in table.columns)
    window = _Window.of(state.watermark(key), at, config.sources.app_db_lookback_seconds,
                        config.quality.max_future_skew_hours)
    try:
        frame = app_db.extract_changes(engine, table, window.start, extras)
    except app_db.SourceTypeChanged as exc:
        failure = value_type_changed(target, exc.column, exc.kind, exc.example)
        raise QualityGateFailed(target, [failure], [c for c in checks if c.rule != failure.rule] + [failure]) from None
    frame = frame.loc[~_already_extracted(lake, table, target, frame, window.start)]
    checks += _stamp_checks(target, table, frame, app_db.count_unstamped(engine, table), window)
    schema = StructType(app_tables.schema(name).fields + [StructField(c, StringType()) for c in extras])
    if frame.empty:
        return _Extract(name, pa.table({}), window.since, None, "", tuple(checks))
    stamps = frame[table.change_column].dropna()
    newest = min(str(stamps.max()), window.ceiling) if len(stamps) else _EPOCH  # unstamped rows only
    until = max(newest, window.since) if window.since else newest
    keys = pd.util.hash_pandas_object(frame[[*table.key, table.change_column]], index=False).to_numpy().tobytes()
    batch_id = batch_id_for(key, window.since, until, len(frame), landing.content_hash(keys))
    shaped = with_ingestion_columns(app_tables.shape_extract(frame, name), f"app_db/{name}", batch_id, at)
    return _Extract(name, to_arrow(shaped, schema), window.since, until, batch_id, tuple(checks))


def _commit_app_extract(lake: Lake, extract: _Extract, at: dt.datetime) -> None:
    """Append one checked extract and move its watermark (after the data, so a crash between the
    two is rolled back and extracted again by the next run)."""
    target = app_tables.bronze_table(extract.name)
    _clear_partial_batch(lake, [target], extract.batch_id)
    lake.append_arrow(extract.rows, target, app_tables.PARTITION_BY.get(extract.name))
    IngestState(lake).record_watermark(f"app_db.{extract.name}", str(extract.until), extract.batch_id, at)


def _extract_all(lake: Lake, engine: Any, names: Sequence[str], at: dt.datetime, config: Config
                 ) -> tuple[list[_Extract], list[QualityGateFailed]]:
    extracts, failures = [], []
    for name in names:
        try:
            extracts.append(_extract_app_table(lake, engine, name, at, config))
        except QualityGateFailed as exc:
            failures.append(exc)
    return extracts, failures


def _blocked(failures: Sequence[QualityGateFailed], held_back: Sequence[str]) -> QualityGateFailed:
    """One failure for the run: every table that failed its checks, and the ones held back with them."""
    failed = [f.table for f in failures]
    table = ", ".join(failed)
    if held_back:
        table += f" (and, moving with it, {', '.join(held_back)})"
    return QualityGateFailed(table, [x for f in failures for x in f.failures], [x for f in failures for x in f.results])


def _ingest_app_table(lake: Lake, engine: Any, name: str, at: dt.datetime, run: Run, config: Config) -> IngestResult:
    """Extract, check and commit one app table on its own (it moves with no other)."""
    extract = _extract_app_table(lake, engine, name, at, config)
    return _commit_app_extracts(lake, [extract], at, run)


def _commit_app_extracts(lake: Lake, extracts: Sequence[_Extract], at: dt.datetime, run: Run) -> IngestResult:
    result = IngestResult()
    for extract in extracts:
        if extract.until is not None:
            run.landing()
            _commit_app_extract(lake, extract, at)
            result += IngestResult(extract.rows.num_rows, 0, 1, 0)
        result += IngestResult(checks=extract.checks)
    return result


def scrub_erased_customers(lake: Lake, at: dt.datetime) -> int:
    """Null the personal data of erased customers in bronze.customers; returns rows scrubbed.

    Only the rows still holding some of it are updated, and the customers they belong to are
    recorded with the commit (`ops.rewrites`): `silver_customers` recomputes just those customers
    instead of rebuilding, since bronze then had more than appends."""
    customers, erasures = "bronze.customers", "bronze.erasure_requests"
    if not (lake.exists(customers) and lake.exists(erasures)):
        return 0
    erased = [r[0] for r in lake.read(erasures).select("customer_id").distinct().collect() if r[0] is not None]
    if not erased:
        return 0
    pii = F.col("email").isNotNull() | F.col("name").isNotNull() | F.col("address").isNotNull()
    dirty = lake.read(customers).where(F.col("customer_id").isin(erased) & pii).groupBy("customer_id").count()
    counts = {int(r["customer_id"]): int(r["count"]) for r in dirty.collect()}
    if not counts:
        return 0
    ids = ", ".join(str(i) for i in sorted(counts))
    lake.spark.sql(
        f"UPDATE delta.`{lake.path(customers)}` SET email = NULL, name = NULL, address = NULL "
        f"WHERE customer_id IN ({ids}) AND (email IS NOT NULL OR name IS NOT NULL OR address IS NOT NULL)"
    )
    version = lake.version(customers)
    if version is not None:  # (it is: the update committed to it) unrecorded, silver would rebuild
        incremental.record_rewrite(lake, customers, version, "customer_id", counts, "erasure", at)
    return sum(counts.values())


def ingest_app_db(lake: Lake, config: Config, at: dt.datetime, run: Run = NO_RUN) -> IngestResult:
    """Erasure requests first, on their own; then the linked tables, all or none (see above).

    A failed check on a linked table leaves every linked bronze table and watermark as it was;
    erasure requests are still extracted and applied."""
    database = sqlite_file(config.app_db_url)
    if database is not None and not database.is_file():  # SQLite would make an empty one, or fail to open it
        raise app_db.SourceUnavailable(
            f"no app database at {database}: run `lakehouse generate`, or set sources.app_db_url")
    engine = app_db.connect(config.app_db_url)
    try:
        result = IngestResult()
        erasure_failure: list[QualityGateFailed] = []
        try:
            result += _ingest_app_table(lake, engine, ERASURES, at, run, config)
        except QualityGateFailed as exc:
            erasure_failure.append(exc)
        extracts, failures = _extract_all(lake, engine, LINKED_APP_TABLES, at, config)
        if not failures:
            result += _commit_app_extracts(lake, extracts, at, run)
        scrubbed = scrub_erased_customers(lake, at)
        if scrubbed:
            log.info("erased personal data from %d bronze.customers rows", scrubbed)
        if erasure_failure or failures:
            failed = {app_tables.bronze_table(n) for n in LINKED_APP_TABLES} - {f.table for f in failures}
            held_back = sorted(failed) if failures else []
            raise _blocked([*erasure_failure, *failures], held_back)
        return result
    finally:
        engine.dispose()


# -- FX rates over HTTP -----------------------------------------------------------------------
class SourceCheckFailed(QualityGateFailed):
    """A source's answer or file failed its checks at ingestion; the message is one line naming
    the source (its URL or file) and what happens to what it sent."""

    def __init__(self, table: str, message: str, results: Sequence[CheckResult]) -> None:
        super().__init__(table, failed_critical(results), results)
        self.args = (message,)


@contextlib.contextmanager
def fx_endpoint(config: Config) -> Iterator[str]:
    """The configured rates API, or the bundled provider over the local rates file."""
    if config.sources.fx.url:
        yield config.sources.fx.url
        return
    from lakehouse.generate.fx_server import FxServer

    rates = fx_rates_file(config)
    if not rates.is_file():  # the bundled provider would answer 503 to every request
        raise app_db.SourceUnavailable(
            f"no FX rates file at {rates} for the bundled rates API: run `lakehouse generate`, or set sources.fx.url")
    with FxServer(rates) as server:
        yield server.url


def _fx_window(client: FxClient, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date, list[str]]:
    """The window to fetch (the API's whole range where `start`/`end` are None) and its currencies."""
    meta = client.meta()
    first, last = dt.date.fromisoformat(meta["first_date"]), dt.date.fromisoformat(meta["last_date"])
    return start or first, end or last, list(meta["currencies"])


def _land_fx(
    lake: Lake, rates: list[dict[str, Any]], origin: str, batch_id: str, at: dt.datetime
) -> tuple[int, int]:
    good, bad = fx_rates.parse_rates(rates, origin)
    _clear_partial_batch(lake, [fx_rates.TABLE, quarantine.TABLE], batch_id)
    frame = records_frame(good, field_dtypes(fx_rates.FIELDS))
    lake.append_pandas(with_ingestion_columns(frame, origin, batch_id, at), fx_rates.SCHEMA, fx_rates.TABLE)
    _append_quarantine(lake, bad, batch_id, at)
    return len(good), len(bad)


def _fx_rejected(exc: BadAnswer, since: str | None) -> SourceCheckFailed:
    kept = f"the FX watermark stays at {since}" if since else "no FX watermark yet"
    return SourceCheckFailed(fx_rates.TABLE, f"{exc}; nothing written, {kept}", exc.checks)


def ingest_fx(lake: Lake, config: Config, at: dt.datetime, run: Run = NO_RUN) -> IngestResult:
    """The days after the watermark up to the API's last day, landed only once the whole answer
    passed its checks (`fx_rates.answer_checks`); the watermark then moves to the last of them.

    A bad answer (not JSON, HTML, days missing, a rate of 0 or below) raises `SourceCheckFailed`
    with the checks: nothing is written and the watermark stays, so the next run asks again."""
    state = IngestState(lake)
    since = state.watermark("fx")
    with fx_endpoint(config) as url:
        client = FxClient(url, config.sources.fx)
        try:
            begin = dt.date.fromisoformat(since) + dt.timedelta(days=1) if since else None
            start, end, currencies = _fx_window(client, begin, None)
            if start > end:
                return IngestResult()
            run.landing()
            rates, checks = client.checked_rates(
                start, end, lambda rates: fx_rates.answer_checks(rates, start, end, currencies)
            )
        except BadAnswer as exc:
            raise _fx_rejected(exc, since) from None
    origin = f"fx:/v1/rates?start={start}&end={end}"
    batch_id = batch_id_for(fx_rates.TABLE, start, end)
    good, bad = _land_fx(lake, rates, origin, batch_id, at)
    state.record_watermark("fx", end.isoformat(), batch_id, at)
    return IngestResult(good, bad, 1, 0, tuple(checks))


FX_REFETCH_KEY = "fx.refetch"


def refetch_fx(lake: Lake, config: Config, start: dt.date, end: dt.date, at: dt.datetime) -> IngestResult:
    """Fetch the rates of `start`..`end` again and land them as a new batch (`lakehouse reingest fx`).

    For a window landed wrong (by a version that did not check answers) or corrected by the
    provider since: silver.fx_rates keeps, per day and currency, the latest landing, so the
    re-fetched rates win. The answer is checked as in `ingest_fx`; the watermark is left alone (the
    window is recorded in `ops.watermarks` under `fx.refetch`)."""
    if start > end:
        raise ValueError(f"--from {start} is after --to {end}")
    with fx_endpoint(config) as url:
        client = FxClient(url, config.sources.fx)
        try:
            first, last, currencies = _fx_window(client, None, None)
            if start < first or end > last:
                raise ValueError(f"the FX rates API {url} serves {first} to {last}, not {start} to {end}")
            rates, checks = client.checked_rates(
                start, end, lambda rates: fx_rates.answer_checks(rates, start, end, currencies)
            )
        except BadAnswer as exc:
            raise SourceCheckFailed(fx_rates.TABLE, f"{exc}; nothing written", exc.checks) from None
    origin = f"fx:/v1/rates?start={start}&end={end}"
    batch_id = batch_id_for(fx_rates.TABLE, start, end, "refetch", at.isoformat())
    good, bad = _land_fx(lake, rates, origin, batch_id, at)
    # The ledger entry that ends the batch (else the next ingestion would roll it back); under a
    # key of its own, so the FX watermark does not move.
    IngestState(lake).record_watermark(FX_REFETCH_KEY, f"{start}..{end}", batch_id, at)
    return IngestResult(good, bad, 1, 0, tuple(checks))


# -- sales targets CSV -------------------------------------------------------------------------
SILVER_TARGETS = "silver.sales_targets"


def _targets_checks(readable: bool, observed: str, rejected: int = 0) -> tuple[CheckResult, ...]:
    """`targets_upload_readable` (bronze, critical) and `targets_current` (silver, warn): the file in
    force could be read, so silver serves it; or not, so silver serves an older upload (stale)."""
    return (
        CheckResult(
            sales_targets.TABLE, "targets_upload_readable", "critical", readable, observed, 0 if readable else rejected
        ),
        CheckResult(SILVER_TARGETS, "targets_current", "warn", readable, None if readable else "stale: " + observed),
    )


def _targets_stale(origin: str, digest: str, good_at: Any, problem: str, rejected: int) -> SourceCheckFailed:
    kept = (
        f"{SILVER_TARGETS} keeps the upload ingested at {good_at:%Y-%m-%d %H:%M} UTC (stale)"
        if good_at
        else f"{SILVER_TARGETS} has no targets"
    )
    message = (
        f"sales targets {origin} (upload {digest[:12]}) not read: {problem}; its {rejected} line(s) are in "
        f"bronze.quarantine; {kept} until a readable file is uploaded"
    )
    return SourceCheckFailed(sales_targets.TABLE, message, _targets_checks(False, f"{origin}@{digest[:12]}", rejected))


def ingest_targets(lake: Lake, config: Config, at: dt.datetime, run: Run = NO_RUN) -> IngestResult:
    """The operators' CSV when it changed: its rows to bronze.sales_targets, unreadable lines to quarantine.

    An upload that cannot be read as a whole (`sales_targets.read_upload`) puts every line in
    quarantine, is recorded as `rejected` and raises `SourceCheckFailed`: silver keeps the last
    readable upload, marked stale (`targets_current`). Each later run with the same file raises
    again without quarantining its lines twice, until another file is uploaded."""
    path = config.landing / "targets" / "sales_targets.csv"
    if not path.is_file():
        log.warning("no sales targets file at %s", path)
        return IngestResult()
    state = IngestState(lake)
    content = path.read_bytes()
    digest = landing.content_hash(content)
    origin = _relative(path, config.landing)
    last = state.last_upload(sales_targets.SOURCE)
    if last and last["content_hash"] == digest:
        if last["status"] == "rejected":
            problem = f"the same file was rejected at {last['ingested_at']:%Y-%m-%d %H:%M} UTC"
            raise _targets_stale(origin, digest, last["good_at"], problem, int(last["rejected"] or 0))
        # the upload in force is this very file: nothing new (not a re-delivery either)
        return IngestResult(checks=_targets_checks(True, f"{origin}@{digest[:12]}"))
    run.landing()
    # The same bytes may come back (the last good file uploaded again after a bad one): the number
    # of uploads before it keeps its batch apart from the earlier one's rows.
    batch_id = batch_id_for(sales_targets.TABLE, digest, last["uploads"] if last else 0)
    _clear_partial_batch(lake, [sales_targets.TABLE, quarantine.TABLE], batch_id)
    upload = sales_targets.read_upload(content, origin)
    if upload.problem:
        _append_quarantine(lake, upload.bad, batch_id, at)
        ledger = [FileRecord(f"{origin}@{digest[:12]}", digest, "rejected", 0, len(upload.bad))]
        state.record_files(sales_targets.SOURCE, ledger, batch_id, at)
        raise _targets_stale(origin, digest, last and last["good_at"], upload.problem, len(upload.bad))
    good, bad = upload.good, upload.bad
    frame = records_frame(good, field_dtypes(sales_targets.FIELDS) + [("_line_no", "Int64")])
    rows = with_ingestion_columns(frame, origin, batch_id, at)
    lake.append_pandas(rows, sales_targets.SCHEMA, sales_targets.TABLE)
    _append_quarantine(lake, bad, batch_id, at)
    ledger = [FileRecord(f"{origin}@{digest[:12]}", digest, "ingested", len(good), len(bad))]
    state.record_files(sales_targets.SOURCE, ledger, batch_id, at)
    return IngestResult(len(good), len(bad), 1, 0, _targets_checks(True, f"{origin}@{digest[:12]}", len(bad)))
