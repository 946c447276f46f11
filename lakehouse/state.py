"""Ingestion state kept in the lake itself: which files were ingested and the app-database
watermarks. Written after the data it describes, so a crash between the two is repaired by the
next run (see `lakehouse.ingest`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from lakehouse.storage import Lake

FILES_TABLE = "ops.ingested_files"
WATERMARKS_TABLE = "ops.watermarks"

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


@dataclass(frozen=True)
class FileRecord:
    path: str
    content_hash: str
    status: str  # "ingested" | "duplicate" (same bytes as a file ingested before)
    records: int
    rejected: int


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

    def last_hash(self, source: str) -> str | None:
        """Content hash of the most recently ingested file of `source`."""
        if not self.lake.exists(FILES_TABLE):
            return None
        rows = self.lake.rows(
            FILES_TABLE, [("source", "=", source), ("status", "=", "ingested")], ["content_hash", "ingested_at"]
        )
        return max(rows, key=lambda r: r["ingested_at"])["content_hash"] if rows else None

    def record_files(self, source: str, files: Sequence[FileRecord], batch_id: str, at: dt.datetime) -> None:
        rows = [
            (source, f.path, f.content_hash, f.status, f.records, f.rejected, batch_id, _naive_utc(at)) for f in files
        ]
        self.lake.append_rows(rows, FILES_SCHEMA, FILES_TABLE)

    def watermark(self, key: str) -> str | None:
        if not self.lake.exists(WATERMARKS_TABLE):
            return None
        marks = [r["watermark"] for r in self.lake.rows(WATERMARKS_TABLE, [("key", "=", key)], ["watermark"])]
        return max((m for m in marks if m is not None), default=None)

    def record_watermark(self, key: str, value: str, batch_id: str, at: dt.datetime) -> None:
        self.lake.append_rows([(key, value, batch_id, _naive_utc(at))], WATERMARKS_SCHEMA, WATERMARKS_TABLE)
