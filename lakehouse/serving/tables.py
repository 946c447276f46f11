"""What the API reads: Delta versions from the log listing and Arrow snapshots per version.

Versions come from the `_delta_log` folder listing (the highest `NNN.json`), which costs a
directory scan rather than a log replay, so every request can key its cache on them. Snapshots
are read with delta-rs at a pinned version and kept while that version is current: gold tables
are aggregates, small enough to hold in memory and query with DuckDB in a millisecond.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - registers pa.compute
from cachetools import LRUCache

from lakehouse.deltalog import delta_table, delta_tables, delta_version
from lakehouse.files import Location
from lakehouse.storage import LAYERS


class TableStore:
    """Delta tables under one lake root: listing, versions and cached Arrow snapshots."""

    def __init__(self, lake_dir: Location | str, hidden: Iterable[str] = (), snapshots: int = 64) -> None:
        self.lake_dir = Location.of(lake_dir)
        self.hidden = frozenset(hidden)
        self._snapshots: LRUCache[tuple[str, int], pa.Table] = LRUCache(maxsize=snapshots)
        self._lock = threading.Lock()

    def path(self, table: str) -> Location:
        layer, _, name = table.partition(".")
        return self.lake_dir / layer / name

    def version(self, table: str) -> int | None:
        return delta_version(self.path(table))

    def versions(self, tables: Iterable[str]) -> tuple[tuple[str, int | None], ...]:
        return tuple((t, self.version(t)) for t in sorted(tables))

    def tables(self, layers: Iterable[str] = LAYERS) -> list[str]:
        """Every table of `layers` with a Delta log, sorted, hidden tables left out."""
        return [t for t in delta_tables(self.lake_dir, layers) if t not in self.hidden]

    def gold_tables(self) -> list[str]:
        return self.tables(("gold",))

    def snapshot(self, table: str, version: int | None = None) -> pa.Table:
        """The table at `version` (latest when None) as Arrow; raises LookupError if absent."""
        if version is None:
            version = self.version(table)
            if version is None:
                raise LookupError(f"table {table} does not exist")
        key = (table, version)
        with self._lock:
            cached = self._snapshots.get(key)
        if cached is not None:
            return cached
        arrow = delta_table(self.path(table), version).to_pyarrow_table()
        arrow = arrow.replace_schema_metadata(None)
        with self._lock:
            self._snapshots[key] = arrow
        return arrow

    def info(self, table: str) -> dict[str, object]:
        """Name, rows (from the log's file statistics), Delta version and last commit time."""
        delta = delta_table(self.path(table))
        actions = pa.table(delta.get_add_actions(flatten=True))
        counts = actions.column("num_records") if "num_records" in actions.schema.names else None
        if counts is not None and counts.null_count == 0:
            rows = int(pa.compute.sum(counts).as_py() or 0)
        else:
            rows = self.snapshot(table, int(delta.version())).num_rows
        changed = dt.datetime.fromtimestamp(delta.history(1)[0]["timestamp"] / 1000, tz=dt.UTC)
        return {"name": table, "rows": rows, "version": int(delta.version()), "last_change": changed}
