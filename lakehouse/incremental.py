"""Incremental processing: what a job has already processed, and whether it can go on from there.

Every incremental job records, after its data commit, one row in `ops.increments`: the Delta
version of the input it read, the newest `_ingested_at` it saw there (bronze inputs), the Delta
version of the table it wrote, the dates that write touched and the job's parameters.

The next run goes on from that row only when it is still a faithful summary of the lake:
- the input gained only appends since the recorded version (an overwrite, delete or merge of the
  input, e.g. the repair of a half-written bronze batch, means a full rebuild); a job recomputed
  by groups also takes in-place changes recorded in `ops.rewrites` with the keys of the rows they
  changed (the erasure scrub of `bronze.customers`), and recomputes those groups as well;
- the parameters are the same;
- for gold, every commit of its silver input since then is an increment recorded here (so the
  dates it touched are known); a backfill or a full silver rebuild means a full gold rebuild.

A job with several inputs (`silver.order_lines`, whose lines follow their orders, products,
customers' versions and FX rates) records one row per input for the same run; the next run goes
on from those rows when its bronze input gained only appends and every other input's recorded
version can still be read (a VACUUM may have removed its files). What it recomputes is then the
groups (whole orders) the bronze appends name, plus those whose other inputs changed: the rows of
each input's tracked columns that differ between the recorded version and the current one
(`changed_rows`).

A crash between a data commit and its `ops.increments` row is harmless: the next run starts again
from the last recorded row and its writes are keyed (silver keeps the first landing of a key,
rejects are added once, gold replaces whole dates, whole groups are replaced), so nothing is
doubled.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from lakehouse.clock import from_engine
from lakehouse.files import Location
from lakehouse.storage import Lake

TABLE = "ops.increments"
SCHEMA = StructType(
    [
        StructField("job", StringType()),
        StructField("input_table", StringType()),
        StructField("input_version", LongType()),
        StructField("watermark", TimestampType()),
        StructField("output_table", StringType()),
        StructField("output_version", LongType()),  # -1: the run wrote nothing to the table
        StructField("dates", StringType()),  # JSON list of ISO dates the write touched
        StructField("params", StringType()),
        StructField("mode", StringType()),  # full | incremental
        StructField("rows", LongType()),
        StructField("run_id", StringType()),
        StructField("recorded_at", TimestampType()),
    ]
)

# Commits that changed rows of an input in place, and which rows (by key): an input with only
# appends and such commits since a job's mark can still be processed as an increment.
REWRITES_TABLE = "ops.rewrites"
REWRITES_SCHEMA = StructType(
    [
        StructField("table", StringType()),
        StructField("version", LongType()),
        StructField("key_column", StringType()),
        StructField("keys", StringType()),  # JSON list of the key values whose rows the commit changed
        StructField("reason", StringType()),
        StructField("recorded_at", TimestampType()),
    ]
)


@dataclass(frozen=True)
class Mark:
    """One recorded increment (the latest of a job is where its next run goes on from)."""

    job: str
    input_table: str
    input_version: int
    watermark: dt.datetime | None
    output_table: str
    output_version: int
    dates: tuple[dt.date, ...]
    params: str
    mode: str

    @staticmethod
    def from_row(row: Any) -> Mark:
        return Mark(
            row["job"],
            row["input_table"],
            int(row["input_version"]),
            row["watermark"],
            row["output_table"],
            int(row["output_version"]),
            tuple(dt.date.fromisoformat(d) for d in json.loads(row["dates"] or "[]")),
            row["params"] or "",
            row["mode"],
        )


def params_text(params: dict[str, Any]) -> str:
    return json.dumps({k: str(v) for k, v in params.items()}, sort_keys=True)


def _other_commits(lake: Lake, table: str, since: int) -> list[int] | None:
    """The versions of `table` after `since` whose commit is not an append (None: `since` is
    ahead of the table, which was recreated)."""
    delta = lake.delta(table)
    current = delta.version()
    if current < since:
        return None
    others: list[int] = []
    for commit in delta.history(current - since) if current > since else []:
        version = commit.get("version")
        if version is None or version <= since:
            continue
        operation = commit.get("operation", "")
        mode = (commit.get("operationParameters") or {}).get("mode", "")
        if not (operation == "WRITE" and str(mode).lower() == "append"):
            others.append(int(version))
    return others


def appended_only(lake: Lake, table: str, since: int) -> bool:
    """True when every commit of `table` after version `since` is an append."""
    return _other_commits(lake, table, since) == []


def record_rewrite(lake: Lake, table: str, version: int, key_column: str, keys: Iterable[Any], reason: str,
                   at: dt.datetime) -> None:
    """Record in `ops.rewrites` that commit `version` of `table` changed rows in place, and only
    rows whose `key_column` is one of `keys` (e.g. the erasure scrub of `bronze.customers`)."""
    lake.append_rows([(table, version, key_column, json.dumps(sorted(keys)), reason, _naive(at))], REWRITES_SCHEMA,
                     REWRITES_TABLE)


def rewritten_keys(lake: Lake, table: str, since: int, key_column: str) -> list[Any] | None:
    """The `key_column` values whose rows the commits of `table` after `since` changed in place:
    empty when every commit is an append; None when one is neither an append nor a rewrite
    recorded with that key column (`record_rewrite`): what it changed is not known."""
    others = _other_commits(lake, table, since)
    if not others:
        return others
    if not lake.exists(REWRITES_TABLE):
        return None
    rows = lake.rows(REWRITES_TABLE, [("table", "=", table), ("version", ">", since)])
    recorded = {int(r["version"]): r for r in rows if r["key_column"] == key_column}
    if not set(recorded) >= set(others):
        return None
    return sorted({k for v in others for k in json.loads(recorded[v]["keys"])})


def readable(lake: Lake, table: str, version: int) -> bool:
    """True when `table` exists now and its `version` can still be read: its log entry and every
    data file it names are there (VACUUM removes files of old versions)."""
    current = lake.version(table)
    if current is None or version < 0 or version > current:
        return False
    try:
        uris = lake.delta(table, version).file_uris()
    except Exception:  # the log of that version is gone (log retention, a recreated table)
        return False
    files = [Location(uri) for uri in uris]
    if lake.root.is_local:
        return all(f.exists() for f in files)
    present = {e.location for e in lake.path(table).list(recursive=True)}  # one listing, not a request per file
    return all(f in present for f in files)


def changed_rows(
    lake: Lake, table: str, since: int, columns: Sequence[str], date_column: str | None = None
) -> DataFrame | None:
    """The rows of `columns` that differ between `table` at version `since` (-1: it did not exist)
    and now, taken from both sides: a changed row appears with its old and its new values.
    None when nothing can have changed (the same version).

    With `date_column` (a table written by dated increments, e.g. `silver.orders` by `order_date`)
    and every commit since a recorded increment, only the dates those increments touched are
    compared: the other dates' rows are the same on both sides."""
    current = lake.version(table)
    if current is None and since < 0:
        return None
    if current == since:
        return None
    now = lake.read(table, current) if current is not None else None
    before = lake.read(table, since) if since >= 0 else None
    if date_column is not None and current is not None and now is not None and before is not None:
        dates = dates_written(Increments(lake), table, since, current)
        if dates is not None:
            touched = F.col(date_column).isNull() | F.col(date_column).isin(sorted(dates))
            now, before = now.where(touched), before.where(touched)
    now = now.select(*columns).distinct() if now is not None else None
    before = before.select(*columns).distinct() if before is not None else None
    if now is None:
        return before
    if before is None:
        return now
    return now.subtract(before).unionByName(before.subtract(now))


class Increments:
    """`ops.increments`, read and written through the lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def last(self, job: str) -> Mark | None:
        if not self.lake.exists(TABLE):
            return None
        rows = self.lake.rows(TABLE, [("job", "=", job)])
        return Mark.from_row(max(rows, key=lambda r: r["recorded_at"])) if rows else None

    def last_inputs(self, job: str) -> dict[str, Mark]:
        """The rows the job's latest run recorded, one per input (empty when it has none)."""
        if not self.lake.exists(TABLE):
            return {}
        rows = self.lake.rows(TABLE, [("job", "=", job)])
        if not rows:
            return {}
        latest = max(rows, key=lambda r: r["recorded_at"])
        return {r["input_table"]: Mark.from_row(r) for r in rows if r["run_id"] == latest["run_id"]}

    def written_since(self, output_table: str, version: int) -> list[Mark]:
        """Increments recorded for writes of `output_table` after its Delta `version`."""
        if not self.lake.exists(TABLE):
            return []
        rows = self.lake.rows(TABLE, [("output_table", "=", output_table), ("output_version", ">", version)])
        return [Mark.from_row(r) for r in rows]

    def record(
        self,
        job: str,
        input_table: str,
        input_version: int,
        watermark: dt.datetime | None,
        output_table: str,
        dates: Iterable[dt.date],
        params: str,
        mode: str,
        rows: int,
        run_id: str,
        at: dt.datetime,
        wrote: bool = True,
    ) -> None:
        self.record_inputs(job, {input_table: (input_version, watermark)}, output_table, dates, mode, rows, run_id, at,
                           params, wrote)

    def record_inputs(
        self,
        job: str,
        inputs: Mapping[str, tuple[int, dt.datetime | None]],
        output_table: str,
        dates: Iterable[dt.date],
        mode: str,
        rows: int,
        run_id: str,
        at: dt.datetime,
        params: str = "",
        wrote: bool = True,
    ) -> None:
        """One row per input (`table → (version read, newest _ingested_at or None)`), one commit.

        The output version is the table's version after the run's write; -1 when the run wrote
        nothing to it (`wrote`): the current version is then another writer's, whose dates this
        row does not know (`dates_written` must not count it as this increment's)."""
        output_version = self.lake.version(output_table) if wrote else None
        touched = json.dumps(sorted({d.isoformat() for d in dates}))
        records = [
            (job, table, version, _naive(watermark), output_table,
             -1 if output_version is None else output_version, touched, params, mode, rows, run_id, _naive(at))
            for table, (version, watermark) in inputs.items()
        ]
        self.lake.append_rows(records, SCHEMA, TABLE)


def dates_written(increments: Increments, table: str, since: int, until: int) -> set[dt.date] | None:
    """The dates the increments recorded for `table` touched between its versions `since`
    (excluded) and `until`; None when a commit in between is not one of them (a full rebuild, a
    backfill, a re-admission, a compaction): what changed there is not known by date."""
    marks = [m for m in increments.written_since(table, since) if m.output_version <= until]
    recorded = {m.output_version for m in marks if m.mode == "incremental"}
    if not recorded >= set(range(since + 1, until + 1)):
        return None
    return {d for m in marks if m.output_version in recorded for d in m.dates}


def _naive(at: dt.datetime | None) -> dt.datetime | None:
    if at is None:
        return None
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at


def newest_ingestion(lake: Lake, table: str, version: int) -> dt.datetime | None:
    """The newest `_ingested_at` of a bronze table at `version`."""
    row = lake.read(table, version).agg(F.max("_ingested_at")).first()
    return from_engine(row[0]) if row else None
