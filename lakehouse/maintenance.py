"""`lakehouse maintain`: history, compaction, vacuum and checkpoints for the lake's Delta tables.

Through the engine where it can: Apache Spark with Delta runs `OPTIMIZE`, `VACUUM` and
`DESCRIBE HISTORY` itself. Sail has none of them, so on the embedded engine (and any Spark Connect
server) the same operations run through delta-rs on the same table. Checkpoints are written with
delta-rs on both. Afterwards the table reads the same on Sail, Apache Spark and delta-rs (tested).

Vacuum keeps files for `retention_hours` (default 168 = 7 days) after they stop being part of the
table: time travel and readers of an older version (a long query, a streaming reader) need them.
A shorter retention is refused unless forced.

`purge_erased` is the forced case that privacy asks for. It first removes everything under the
lake's staging folder (stages a killed run left, holding rows as they were staged). Then, for
every table that declares personal data (`lakehouse.personal`, listed by `personal_data_tables`), it
1. scrubs the current rows: an erased customer's personal columns are set to null (or the row is
   deleted), free text that mentions an erased customer's email, name or address is redacted;
2. vacuums with retention 0, so no file of an older version is left;
3. writes a checkpoint and deletes every log entry before it: the JSON commits carry column
   statistics (minValues/maxValues) of the files they added and removed, personal values among
   them; the checkpoint only describes the current, scrubbed files.
Time travel to a version before the purge then fails (the version is gone), by design. A table
with nothing to scrub, no unreferenced file and no log entry before its last checkpoint is left
alone, so a second purge changes no table. Each purge adds one row per table it changed to
`ops.purges` (when, the OS user, counts; never a personal value).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from lakehouse.clock import from_engine
from lakehouse.deltalog import delta_table
from lakehouse.files import Location
from lakehouse.personal import PersonalData
from lakehouse.staging import FOLDER as STAGING
from lakehouse.staging import Swept, sweep
from lakehouse.storage import Lake

log = logging.getLogger(__name__)
MIN_RETENTION_HOURS = 168
ERASURES = "bronze.erasure_requests"
PURGES = "ops.purges"
PURGES_SCHEMA = StructType(
    [
        StructField("purge_id", StringType()),
        StructField("purged_at", TimestampType()),
        StructField("purged_by", StringType()),  # the OS user who ran it
        StructField("table", StringType()),
        StructField("erased_customers", LongType()),  # erasure requests known to the purge
        StructField("rows_scrubbed", LongType()),
        StructField("files_rewritten", LongType()),  # data files replaced by the scrub
        StructField("files_removed", LongType()),  # data files of older versions vacuumed
        StructField("log_entries_removed", LongType()),  # commits and checkpoints before the new checkpoint
        StructField("version", LongType()),  # the table's version afterwards (its only one)
    ]
)
# Shorter values are not searched for in free text (they would match unrelated text).
MIN_VALUE_LENGTH = 4


class RetentionTooShort(ValueError):
    """A vacuum retention below the guard, without force."""


@dataclass
class MaintainResult:
    table: str
    files_before: int
    files_after: int
    vacuumed: int
    version: int
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{self.table}: {self.files_before} → {self.files_after} data file(s), "
            f"{self.vacuumed} unreferenced file(s) removed, version {self.version}, checkpoint written"
        )


# What compaction aims at when the table does not say (`delta.targetFileSize`): delta-rs's default.
# Apache Spark's OPTIMIZE bins files up to 1 GB; on tables this size both merge the same files.
DEFAULT_TARGET_FILE_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class MaintainPlan:
    """What `maintain_table` would do to a table now (`lakehouse maintain --dry-run`)."""

    table: str
    version: int
    files: int
    compacted: int  # small data files that would be merged ...
    into: int  # ... into this many (one per partition that has several)
    vacuumed: int  # files that would be removed: unreferenced past the retention
    retention_hours: int

    @property
    def files_after(self) -> int:
        return self.files - self.compacted + self.into

    def describe(self) -> str:
        compact = (f"compact {self.compacted} small data file(s) into {self.into}" if self.compacted
                   else "compact nothing")
        return (
            f"{self.table} (version {self.version}): would {compact} ({self.files} → {self.files_after} data "
            f"file(s)), remove {self.vacuumed} file(s) unreferenced for over {self.retention_hours} h, and write a "
            "checkpoint"
        )


def plan_table(root: Location, table: str, retention_hours: int = MIN_RETENTION_HOURS,
               force: bool = False) -> MaintainPlan:
    """What `maintain_table` would do to `table` under `root`, read from its Delta log with delta-rs:
    nothing is written and no engine is needed."""
    check_retention(retention_hours, force)
    layer, name = table.split(".", 1)
    delta = delta_table(root / layer / name)
    target = int(delta.metadata().configuration.get("delta.targetFileSize") or DEFAULT_TARGET_FILE_BYTES)
    actions = pa.table(delta.get_add_actions(flatten=True)).to_pandas()
    parts = [c for c in actions.columns if c.startswith("partition.")]
    small = actions[actions["size_bytes"] < target]
    per_partition = small.groupby(parts, dropna=False).size() if parts else pd.Series([len(small)])
    several = per_partition[per_partition > 1]
    unreferenced = len(delta.vacuum(retention_hours, dry_run=True, enforce_retention_duration=False))
    # a retention of 0 h also removes the files the compaction itself has just replaced
    replaced = int(several.sum()) if retention_hours == 0 else 0
    return MaintainPlan(table, int(delta.version()), len(actions), int(several.sum()), len(several),
                        unreferenced + replaced, retention_hours)


def check_retention(hours: int, force: bool) -> None:
    if hours < MIN_RETENTION_HOURS and not force:
        raise RetentionTooShort(
            f"a vacuum retention of {hours} h is below {MIN_RETENTION_HOURS} h: files of older versions would be "
            "deleted while time travel or a running reader may still need them; pass --force to accept that"
        )


def history(lake: Lake, table: str, limit: int = 5) -> list[dict[str, Any]]:
    """The latest commits: version, time, operation (the engine's DESCRIBE HISTORY, else delta-rs)."""
    if _spark_delta(lake):
        rows = lake.spark.sql(f"DESCRIBE HISTORY delta.`{lake.path(table)}` LIMIT {limit}").collect()
        return [{"version": r["version"], "timestamp": from_engine(r["timestamp"]), "operation": r["operation"]}
                for r in rows]
    commits = lake.delta(table).history(limit)
    return [
        {
            "version": c.get("version"),
            "timestamp": dt.datetime.fromtimestamp(c["timestamp"] / 1000, dt.UTC),
            "operation": c.get("operation"),
        }
        for c in commits
    ]


def _spark_delta(lake: Lake) -> bool:
    """Whether the engine has Delta's SQL maintenance commands (Apache Spark with Delta); Sail has not."""
    return lake.profile.delta_sql_maintenance


def _vacuum_spark(lake: Lake, table: str, hours: int) -> int:
    before = _all_files(lake, table)
    lake.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")  # our guard applies
    try:
        lake.spark.sql(f"VACUUM delta.`{lake.path(table)}` RETAIN {hours} HOURS")
    finally:
        lake.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    return max(0, before - _all_files(lake, table))


def _vacuum_delta_rs(lake: Lake, table: str, hours: int) -> int:
    """Vacuum with delta-rs; returns the files removed. On object storage delta-rs only lists them
    and the file layer deletes them one request each: delta-rs deletes in bulk (DeleteObjects),
    which S3-compatible servers without its checksum headers refuse (s3proxy: 501)."""
    if lake.root.is_local:
        return len(lake.delta(table).vacuum(hours, dry_run=False, enforce_retention_duration=False))
    table_dir = lake.path(table)
    files = lake.delta(table).vacuum(hours, dry_run=True, enforce_retention_duration=False)
    for name in files:
        (Location(name) if "://" in name else table_dir / name).delete()
    return len(files)


def _all_files(lake: Lake, table: str) -> int:
    return sum(1 for e in lake.path(table).list(recursive=True) if e.name.endswith(".parquet"))


def maintain_table(
    lake: Lake,
    table: str,
    retention_hours: int = MIN_RETENTION_HOURS,
    force: bool = False,
    compact: bool = True,
    vacuum: bool = True,
) -> MaintainResult:
    """Compact small files, vacuum past the retention, write a checkpoint; see the module docstring."""
    check_retention(retention_hours, force)
    path = str(lake.path(table))
    before = len(lake.delta(table).file_uris())
    vacuumed = 0
    if _spark_delta(lake):
        if compact:
            lake.spark.sql(f"OPTIMIZE delta.`{path}`")
        if vacuum:
            vacuumed = _vacuum_spark(lake, table, retention_hours)
    else:
        if compact:
            lake.delta(table).optimize.compact()
        if vacuum:
            vacuumed = _vacuum_delta_rs(lake, table, retention_hours)
    delta = lake.delta(table)
    delta.create_checkpoint()
    result = MaintainResult(table, before, len(delta.file_uris()), vacuumed, delta.version(), history(lake, table))
    log.info(result.describe())
    return result


@dataclass
class PurgeResult:
    table: str
    rows_scrubbed: int
    files_rewritten: int
    files_removed: int
    log_entries_removed: int
    version: int
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{self.table}: {self.rows_scrubbed} row(s) scrubbed, {self.files_rewritten} data file(s) rewritten, "
            f"{self.files_removed} file(s) of older versions removed, {self.log_entries_removed} log entries "
            f"removed; only version {self.version} is left"
        )


def erased_customers(lake: Lake) -> list[int]:
    """Every customer with an erasure request, sorted."""
    if not lake.exists(ERASURES):
        return []
    rows = lake.read(ERASURES).select("customer_id").distinct().collect()
    return sorted(int(r[0]) for r in rows if r[0] is not None)


def _data_files(table_dir: Location) -> list[Location]:
    return [e.location for e in table_dir.list(recursive=True)
            if e.name.endswith(".parquet") and not e.location.relative_to(table_dir).startswith("_delta_log/")]


def erased_values(lake: Lake, customers: Iterable[int], declarations: Iterable[PersonalData]) -> set[str]:
    """The personal values erased customers had: from every data file of every version of the
    tables with personal columns (read before they are vacuumed), and from the rejected rows and
    dead letters that belong to them. Free text is searched for these."""
    ids = set(customers)
    values: set[str] = set()
    if not ids:
        return values
    for decl in declarations:
        if not decl.columns or not lake.exists(decl.table):
            continue
        for file in _data_files(lake.path(decl.table)):
            part = pq.ParquetFile(file.fs.open_input_file(file.fs_path))
            names = set(part.schema_arrow.names)
            if "customer_id" not in names:
                continue
            wanted = [c for c in decl.columns if c in names]
            frame = part.read(columns=["customer_id", *wanted]).to_pandas()
            for column in wanted:
                values.update(str(v) for v in frame.loc[frame["customer_id"].isin(ids), column].dropna())
    personal = {c for decl in declarations for c in decl.columns}
    for decl in declarations:
        if decl.customer is None or not decl.free_text or not lake.exists(decl.table):
            continue
        matched = _id_match(decl, sorted(ids))
        for column in decl.free_text:
            for row in lake.read(decl.table).where(matched).select(f"`{column}`").distinct().collect():
                values.update(_json_strings(row[0], personal))
    return {v for v in values if len(v) >= MIN_VALUE_LENGTH}


def _json_strings(text: str | None, keys: set[str]) -> list[str]:
    """The values of `keys` in a JSON object (a rejected row, a payload), or none."""
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        return []
    if not isinstance(parsed, dict):
        return []
    return [v for k, v in parsed.items() if k in keys and isinstance(v, str)]


def _id_match(decl: PersonalData, customers: list[int]) -> str:
    if decl.customer is None or not customers:
        return "false"
    return f"(({decl.customer}) IN ({', '.join(str(c) for c in customers)}))"


def _mentions(lake: Lake, table: str, column: str, values: set[str]) -> str:
    """An SQL condition true for the rows whose `column` quotes one of `values`: matched here,
    named in SQL by the text's MD5 (so no value is ever written into a statement or a log)."""
    if not values:
        return "false"
    pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
    texts = [r[0] for r in lake.read(table).select(f"`{column}`").distinct().collect() if r[0] is not None]
    digests = sorted({hashlib.md5(t.encode()).hexdigest() for t in texts if pattern.search(t)})  # noqa: S324
    if not digests:
        return "false"
    return f"(md5(`{column}`) IN ({', '.join(repr(d) for d in digests)}))"


def scrub(lake: Lake, decl: PersonalData, customers: list[int], values: set[str]) -> int:
    """Scrub the current rows of one declared table (see the module docstring); returns rows changed."""
    path = lake.path(decl.table)
    ids = _id_match(decl, customers)
    if decl.delete_rows:
        needs, change = ids, f"DELETE FROM delta.`{path}` WHERE {ids}"
    else:
        sets, needs_any = [], []
        for column in decl.columns:
            sets.append(f"`{column}` = CASE WHEN {ids} THEN NULL ELSE `{column}` END")
            needs_any.append(f"({ids} AND `{column}` IS NOT NULL)")
        for column, redacted in decl.free_text.items():
            hit = f"({ids} OR {_mentions(lake, decl.table, column, values)})"
            sets.append(f"`{column}` = CASE WHEN {hit} THEN {redacted} ELSE `{column}` END")
            needs_any.append(f"({hit} AND NOT (`{column}` <=> ({redacted})))")
        needs = "(" + " OR ".join(needs_any or ["false"]) + ")"
        change = f"UPDATE delta.`{path}` SET {', '.join(sets)} WHERE {needs}"
    if needs == "false":
        return 0
    count = lake.spark.sql(f"SELECT * FROM delta.`{path}` WHERE {needs}").count()
    if count:
        with lake.write_lock(decl.table):
            lake.spark.sql(change)
    return count


def _log_version(name: str) -> int | None:
    digits = name.lstrip(".").split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def _older_log_entries(table_dir: Location, version: int) -> list[Location]:
    """The log's commits, checksums and checkpoints of versions before `version`."""
    log_dir = table_dir / "_delta_log"
    return [e.location for e in log_dir.list()
            if not e.is_dir and (v := _log_version(e.name)) is not None and v < version]


def _file_key(location: Location) -> str:
    """One spelling per file, to compare delta-rs's file URIs with a listing (links resolved)."""
    return location.fs_path if not location.is_local else str(location.local_path.resolve())


def _unreferenced(lake: Lake, table: str) -> int:
    current = {_file_key(Location(u)) for u in lake.delta(table).file_uris()}
    return sum(1 for p in _data_files(lake.path(table)) if _file_key(p) not in current)


def drop_history(lake: Lake, table: str) -> tuple[int, int]:
    """Vacuum with retention 0, checkpoint, and delete the log before the checkpoint; returns
    (data files removed, log entries removed)."""
    removed = _vacuum_spark(lake, table, 0) if _spark_delta(lake) else _vacuum_delta_rs(lake, table, 0)
    delta = lake.delta(table)
    delta.create_checkpoint()
    entries = _older_log_entries(lake.path(table), delta.version())
    for entry in entries:
        entry.delete()
    return removed, len(entries)


def _has_history(lake: Lake, table: str) -> bool:
    version = lake.current_version(table)
    checkpoint = lake.path(table) / "_delta_log" / f"{version:020d}.checkpoint.parquet"
    return not checkpoint.exists() or bool(_older_log_entries(lake.path(table), version)) or _unreferenced(
        lake, table) > 0


def personal_data_tables() -> tuple[PersonalData, ...]:
    """Every table that declares personal data, in the order the purge treats them: bronze's app
    customers, every silver then gold table whose spec declares some, the rejects, the
    quarantine, the CRM's dead letters and the checks' examples."""
    from lakehouse import catalog
    from lakehouse.bronze import app_tables, quarantine
    from lakehouse.jobs.base import REJECTS_TABLE
    from lakehouse.quality import results
    from lakehouse.reverse_etl import ledger

    declared = [spec.personal for spec in catalog.specs().values() if spec.personal is not None]
    return (
        app_tables.CUSTOMERS_PERSONAL_DATA,
        *sorted(declared, key=lambda p: (p.table == REJECTS_TABLE, p.table.split(".")[0] != "silver", p.table)),
        quarantine.PERSONAL_DATA,
        ledger.DEAD_PERSONAL_DATA,
        results.PERSONAL_DATA,
    )


def purge_erased(lake: Lake, at: dt.datetime | None = None) -> list[PurgeResult]:
    """Erase erased customers' personal data from every file of every table that declares some,
    in every retained version (see the module docstring); returns the tables it changed."""
    from lakehouse import ingest

    at = at or dt.datetime.now(dt.UTC)
    remove_stages(lake)
    declarations = [d for d in personal_data_tables() if lake.exists(d.table)]
    customers = erased_customers(lake)
    values = erased_values(lake, customers, declarations)
    ingest.scrub_erased_customers(lake, at)  # bronze first, recorded so silver recomputes just them
    results = []
    for decl in declarations:
        before = set(lake.delta(decl.table).file_uris())
        scrubbed = scrub(lake, decl, customers, values)
        if not scrubbed and not _has_history(lake, decl.table):
            continue
        rewritten = len(before - set(lake.delta(decl.table).file_uris()))
        removed, entries = drop_history(lake, decl.table)
        result = PurgeResult(decl.table, scrubbed, rewritten, removed, entries, lake.current_version(decl.table))
        log.info(result.describe())
        results.append(result)
    _record(lake, results, len(customers), at)
    _warn_crm(lake, customers)
    return results


def remove_stages(lake: Lake) -> Swept:
    """Remove everything under the lake's staging folder: stages of runs that did not finish hold
    rows as they were staged, personal data among them (`lakehouse.staging`). The purge holds the
    lake's lock, so no stage is in use; a store that refuses fails the purge."""
    swept = sweep(lake.root, keep_own=False)
    if swept.stages:
        log.warning(swept.describe(lake.root / STAGING))
    return swept


def _record(lake: Lake, results: list[PurgeResult], customers: int, at: dt.datetime) -> None:
    """One row per table in ops.purges; a purge that changed nothing leaves one row with no table."""
    purge_id, user, stamp = f"purge-{uuid.uuid4().hex[:12]}", getpass.getuser(), at.replace(tzinfo=None)
    rows: list[tuple[Any, ...]] = [
        (purge_id, stamp, user, r.table, customers, r.rows_scrubbed, r.files_rewritten, r.files_removed,
         r.log_entries_removed, r.version)
        for r in results
    ] or [(purge_id, stamp, user, None, customers, 0, 0, 0, 0, None)]
    frame = pd.DataFrame(rows, columns=PURGES_SCHEMA.fieldNames()).astype({"version": "Int64"})
    lake.append_pandas(frame, PURGES_SCHEMA, PURGES)


def _warn_crm(lake: Lake, customers: list[int]) -> None:
    """The CRM copy is deleted by the sync (an erased customer leaves gold.customer_segments);
    say so when a target still holds erased customers."""
    from lakehouse.reverse_etl import ledger

    if not customers or not lake.exists(ledger.STATE):
        return
    state = lake.read(ledger.STATE).where(_id_match(PersonalData(ledger.STATE), customers) + " AND status = 'present'")
    for row in state.groupBy("target").count().collect():
        log.warning("%d erased customer(s) still in CRM target '%s': run `lakehouse sync crm --target %s` to "
                    "delete them there", row["count"], row["target"], row["target"])
