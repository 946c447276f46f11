"""`lakehouse maintain`: history, compaction, vacuum and checkpoints for the lake's Delta tables.

Through the engine where it can: Apache Spark with Delta runs `OPTIMIZE`, `VACUUM` and
`DESCRIBE HISTORY` itself. Sail has none of them, so on the embedded engine (and any Spark Connect
server) the same operations run through delta-rs on the same table. Checkpoints are written with
delta-rs on both. Afterwards the table reads the same on Sail, Apache Spark and delta-rs (tested).

Vacuum keeps files for `retention_hours` (default 168 = 7 days) after they stop being part of the
table: time travel and readers of an older version (a long query, a streaming reader) need them.
A shorter retention is refused unless forced. `purge_erased` is the forced case that privacy asks
for: old versions of `bronze.customers` and `silver.customers` hold erased customers' personal
data until their files are vacuumed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from deltalake import DeltaTable

from lakehouse.clock import from_engine
from lakehouse.storage import Lake

log = logging.getLogger(__name__)
MIN_RETENTION_HOURS = 168
PERSONAL_TABLES = ("bronze.customers", "silver.customers")


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
    commits = DeltaTable(str(lake.path(table))).history(limit)
    return [
        {
            "version": c.get("version"),
            "timestamp": dt.datetime.fromtimestamp(c["timestamp"] / 1000, dt.UTC),
            "operation": c.get("operation"),
        }
        for c in commits
    ]


def _spark_delta(lake: Lake) -> bool:
    """True on a classic (JVM) session, which has Delta's SQL commands; Spark Connect (Sail) has not."""
    return not type(lake.spark).__module__.startswith("pyspark.sql.connect")


def _vacuum_spark(lake: Lake, table: str, hours: int) -> int:
    before = _all_files(lake, table)
    lake.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")  # our guard applies
    try:
        lake.spark.sql(f"VACUUM delta.`{lake.path(table)}` RETAIN {hours} HOURS")
    finally:
        lake.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    return max(0, before - _all_files(lake, table))


def _all_files(lake: Lake, table: str) -> int:
    return sum(1 for _ in lake.path(table).rglob("*.parquet"))


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
    before = len(DeltaTable(path).file_uris())
    vacuumed = 0
    if _spark_delta(lake):
        if compact:
            lake.spark.sql(f"OPTIMIZE delta.`{path}`")
        if vacuum:
            vacuumed = _vacuum_spark(lake, table, retention_hours)
    else:
        if compact:
            DeltaTable(path).optimize.compact()
        if vacuum:
            removed = DeltaTable(path).vacuum(retention_hours, dry_run=False, enforce_retention_duration=False)
            vacuumed = len(removed)
    delta = DeltaTable(path)
    delta.create_checkpoint()
    result = MaintainResult(table, before, len(delta.file_uris()), vacuumed, delta.version(), history(lake, table))
    log.info(result.describe())
    return result


def purge_erased(lake: Lake) -> list[MaintainResult]:
    """Rewrite and vacuum (retention 0) the tables that held personal data, so files of versions
    from before an erasure are gone. Readers of those old versions fail afterwards, by design."""
    return [maintain_table(lake, t, retention_hours=0, force=True) for t in PERSONAL_TABLES if lake.exists(t)]
