"""Staged Parquet beside the lake: `<lake>/_staging/<owner>-<id>/`, one folder per batch or write.

A stage lives as long as the write it serves and is removed after it (`Lake.staging`). A run that
is killed (SIGKILL, a lost machine, a lease taken over) cannot remove its stages, and they hold
whatever the batch held: customers' emails and names among it. Only the holder of the lake's lock
stages, so once a run holds the lock every stage that is not its own is stale: `sweep` removes
them when a run takes the lock (`lakehouse.locking.lake_lock`), and `maintain --purge-erased`
removes every stage (`sweep(..., keep_own=False)`). What was removed is logged as counts, never
as names of the files' contents.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lakehouse.files import Location

FOLDER = "_staging"
# This process's stages are named `<OWNER>-<id>`: a sweep by this process leaves them alone.
OWNER = uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Swept:
    """What a sweep removed: stage folders (or stray files) directly under the staging folder,
    and the files they held."""

    stages: int = 0
    files: int = 0

    def describe(self, where: Location) -> str:
        return f"removed {self.stages} staged folder(s) ({self.files} file(s)) under {where}"


def new_stage(root: Location) -> Location:
    """A new, empty stage of this process under the lake `root`."""
    stage = root / FOLDER / f"{OWNER}-{uuid.uuid4().hex}"
    stage.mkdir(parents=True)
    return stage


def own(name: str) -> bool:
    """Whether the stage called `name` is this process's."""
    return name.startswith(f"{OWNER}-")


def sweep(root: Location, keep_own: bool = True) -> Swept:
    """Remove the stages under the lake `root`: every one, or (`keep_own`) every one but this
    process's. Raises `StorageError` (or `OSError` locally) when the store refuses."""
    folder = root / FOLDER
    top = [e for e in folder.list() if not (keep_own and own(e.name))]
    if not top:
        return Swept()
    files = 0
    for entry in top:
        if entry.is_dir:
            files += sum(1 for e in entry.location.list(recursive=True) if not e.is_dir)
            entry.location.delete_tree()
        else:
            files += 1
            entry.location.delete()
    return Swept(len(top), files)
