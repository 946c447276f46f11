"""Ingestion state kept in the lake itself: which files were ingested, the app-database
watermarks, and the journal of batches begun.

Order of commits for every batch: the journal's `started` entry, then the data, then the ledger
(`ops.ingested_files` or `ops.watermarks`). A batch that was started but never reached the ledger
was cut off (a crash, a kill, a failed write): the next ingestion of the same source removes its
rows from every table the journal names before it appends anything, whatever new data has arrived
since, and journals the removal (`rolled_back`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from lakehouse.storage import Lake

FILES_TABLE = "ops.ingested_files"
WATERMARKS_TABLE = "ops.watermarks"
BATCHES_TABLE = "ops.ingest_batches"

FILES_SCHEMA = StructType(
    [
        StructField("source", StringType()),
        StructField("path", StringType()),
        StructField("content_hash", StringType()),
        StructField("status", StringType()),
        StructField("records", LongType()),
        StructField("rejected", LongType()),
        StructField("_batch_id", StringType()),
        StructField("ingested_at", TimestampType()),
        # Added later (a ledger written before has them null, see `LedgerEntry`):
        StructField("size", LongType()),  # bytes of the version ingested (content_hash is theirs)
        StructField("version", LongType()),  # 1 for a path's first version, then one more each change
        StructField("previous_hash", StringType()),  # the version an "appended"/"rewritten" one follows
        StructField("modified_ns", LongType()),  # the file's mtime, when old enough to be trusted
    ]
)
WATERMARKS_SCHEMA = StructType(
    [
        StructField("key", StringType()),
        StructField("watermark", StringType()),
        StructField("_batch_id", StringType()),
        StructField("recorded_at", TimestampType()),
    ]
)

BATCHES_SCHEMA = StructType(
    [
        StructField("source", StringType()),  # what is ingested: the bronze table it lands in
        StructField("_batch_id", StringType()),
        StructField("tables", StringType()),  # the tables the batch may append to, comma-separated
        StructField("status", StringType()),  # "started" | "rolled_back"
        StructField("recorded_at", TimestampType()),
    ]
)


@dataclass(frozen=True)
class UnfinishedBatch:
    batch_id: str
    tables: tuple[str, ...]


@dataclass(frozen=True)
class FileRecord:
    path: str
    content_hash: str
    # "ingested" (a path's first version), "appended" (the previous version plus lines: only those
    # were read), "rewritten" (changed otherwise: read whole again), "duplicate" (bytes ingested
    # before, under this or another name: not read), "unchanged" (the path's latest version again,
    # under a new mtime: a re-upload; the same version, its new mtime recorded, nothing read into
    # bronze), "unreadable" (could not be decompressed or decoded: whole to quarantine),
    # "rejected" (a whole-file upload, the targets CSV, that could not be read: every line to quarantine)
    status: str
    records: int
    rejected: int
    size: int | None = None
    version: int | None = None
    previous_hash: str | None = None
    modified_ns: int | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """The latest version of a path the ledger holds. A ledger written before sizes were kept
    has `size`, `modified_ns` None and `version` 1."""

    path: str
    content_hash: str
    size: int | None
    version: int
    modified_ns: int | None


def _naive_utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at


class IngestState:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def known_files(self, source: str) -> dict[str, str]:
        """path -> content hash of every file of `source` seen before."""
        if not self.lake.exists(FILES_TABLE):
            return {}
        rows = self.lake.rows(FILES_TABLE, [("source", "=", source)], ["path", "content_hash"])
        return {r["path"]: r["content_hash"] for r in rows}

    def known_hashes(self, source: str) -> set[str]:
        """The content hash of every version of every file of `source` the ledger holds."""
        if not self.lake.exists(FILES_TABLE):
            return set()
        return {r["content_hash"] for r in self.lake.rows(FILES_TABLE, [("source", "=", source)], ["content_hash"])}

    def latest_files(self, source: str) -> dict[str, LedgerEntry]:
        """path -> its latest version in the ledger, for every file of `source` seen before (of a
        version recorded more than once, `unchanged` under new mtimes, the last record)."""
        if not self.lake.exists(FILES_TABLE):
            return {}
        latest: dict[str, tuple[tuple[int, dt.datetime, int], LedgerEntry]] = {}
        # every column: a ledger from before the added columns has not got them
        for r in self.lake.rows(FILES_TABLE, [("source", "=", source)]):
            entry = LedgerEntry(r["path"], r["content_hash"], r.get("size"), r.get("version") or 1,
                                r.get("modified_ns"))
            # a later record of the same version wins (a re-upload's mtime is later too: the tie-break)
            order = (entry.version, r["ingested_at"] or dt.datetime.min, entry.modified_ns or -1)
            held = latest.get(entry.path)
            if held is None or order > held[0]:
                latest[entry.path] = (order, entry)
        return {path: entry for path, (_, entry) in latest.items()}

    def last_hash(self, source: str) -> str | None:
        """Content hash of the most recently ingested file of `source`."""
        if not self.lake.exists(FILES_TABLE):
            return None
        rows = self.lake.rows(
            FILES_TABLE, [("source", "=", source), ("status", "=", "ingested")], ["content_hash", "ingested_at"]
        )
        return max(rows, key=lambda r: r["ingested_at"])["content_hash"] if rows else None

    def last_upload(self, source: str) -> dict[str, Any] | None:
        """The most recent upload of a whole-file source, ingested or rejected: `content_hash`,
        `status`, `ingested_at`, `rejected`; `good_at`, when the last ingested one was; `uploads`,
        how many were recorded."""
        if not self.lake.exists(FILES_TABLE):
            return None
        rows = [
            r
            for r in self.lake.rows(
                FILES_TABLE, [("source", "=", source)], ["content_hash", "status", "ingested_at", "rejected"]
            )
            if r["status"] in ("ingested", "rejected")
        ]
        if not rows:
            return None
        good = [r["ingested_at"] for r in rows if r["status"] == "ingested"]
        return {**max(rows, key=lambda r: r["ingested_at"]), "good_at": max(good, default=None), "uploads": len(rows)}

    def record_files(self, source: str, files: Sequence[FileRecord], batch_id: str, at: dt.datetime) -> None:
        rows = [
            (source, f.path, f.content_hash, f.status, f.records, f.rejected, batch_id, _naive_utc(at), f.size,
             f.version, f.previous_hash, f.modified_ns)
            for f in files
        ]
        # column by column: a frame made from the tuples would hold integers beside None as floats
        frame = pd.DataFrame({
            field.name: pd.Series([r[i] for r in rows], dtype="Int64" if field.dataType == LongType() else "object")
            for i, field in enumerate(FILES_SCHEMA.fields)
        })
        self.lake.append_pandas(frame, FILES_SCHEMA, FILES_TABLE)

    def watermark(self, key: str) -> str | None:
        if not self.lake.exists(WATERMARKS_TABLE):
            return None
        marks = [r["watermark"] for r in self.lake.rows(WATERMARKS_TABLE, [("key", "=", key)], ["watermark"])]
        return max((m for m in marks if m is not None), default=None)

    def record_watermark(self, key: str, value: str, batch_id: str, at: dt.datetime) -> None:
        self.lake.append_rows([(key, value, batch_id, _naive_utc(at))], WATERMARKS_SCHEMA, WATERMARKS_TABLE)

    def _ledger_batches(self) -> set[str]:
        """Batch ids the ledger holds: batches that ran to their end."""
        done: set[str] = set()
        for table in (FILES_TABLE, WATERMARKS_TABLE):
            if self.lake.exists(table):
                done.update(r["_batch_id"] for r in self.lake.rows(table, columns=["_batch_id"]))
        return done

    def unfinished_batches(self, source: str) -> list[UnfinishedBatch]:
        """Batches of `source` that were started and neither reached the ledger nor were rolled back."""
        if not self.lake.exists(BATCHES_TABLE):
            return []
        entries = self.lake.rows(BATCHES_TABLE, [("source", "=", source)], ["_batch_id", "tables", "status"])
        # A batch id comes back when a rolled-back batch is tried again with the same content:
        # it is open while it was started more often than rolled back.
        opened: dict[str, int] = {}
        tables: dict[str, str] = {}
        for e in entries:
            opened[e["_batch_id"]] = opened.get(e["_batch_id"], 0) + (1 if e["status"] == "started" else -1)
            if e["status"] == "started":
                tables[e["_batch_id"]] = e["tables"]
        pending = {b: tables[b] for b, n in opened.items() if n > 0}
        if not pending:
            return []
        done = self._ledger_batches()
        return [UnfinishedBatch(b, tuple(t.split(","))) for b, t in sorted(pending.items()) if b not in done]

    def journal_batch(self, source: str, batch_id: str, tables: Sequence[str], status: str, at: dt.datetime) -> None:
        row = (source, batch_id, ",".join(tables), status, _naive_utc(at))
        self.lake.append_rows([row], BATCHES_SCHEMA, BATCHES_TABLE)
