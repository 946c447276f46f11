"""Delta tables read by delta-rs from their logs, without an engine: open a table, its latest
version from a log listing, the row count from file statistics, every table under a lake root."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
from deltalake import DeltaTable

from lakehouse.files import Location
from lakehouse.sqlrefs import LAYERS


def delta_table(path: Location | Path | str, version: int | None = None) -> DeltaTable:
    """The Delta table at `path` opened by delta-rs (with the storage options object storage needs)."""
    location = Location.of(path)
    return DeltaTable(str(location), version=version, storage_options=location.storage_options)


def stats_row_count(delta: DeltaTable) -> int | None:
    """Rows in the table's version from the Delta log's file statistics; None when a file has none."""
    actions = pa.table(delta.get_add_actions(flatten=True))
    if "num_records" not in actions.schema.names or actions.column("num_records").null_count:
        return None
    return int(pa.compute.sum(actions.column("num_records")).as_py() or 0)


def delta_version(table_dir: Location | Path) -> int | None:
    """The latest committed version of the Delta table at `table_dir` from its log listing (no
    log replay), or None if it has no commit yet."""
    entries = (Location.of(table_dir) / "_delta_log").names()
    versions = [int(name.split(".", 1)[0]) for name in entries
                if name.split(".", 1)[0].isdigit() and (name.endswith(".json") or ".checkpoint." in name)]
    return max(versions) if versions else None


def delta_tables(root: Location | Path, layers: Iterable[str] = LAYERS) -> list[str]:
    """Every Delta table with a commit under `root`'s `layers`, as `<layer>.<name>`, sorted."""
    found = []
    for layer in layers:
        for entry in (Location.of(root) / layer).list():
            if entry.is_dir and delta_version(entry.location) is not None:
                found.append(f"{layer}.{entry.name}")
    return sorted(found)
