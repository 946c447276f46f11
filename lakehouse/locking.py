"""One writer per lake: runs that change tables hold an exclusive lock on the lake.

A lake on a local disk: an `fcntl.flock` on `<data_dir>/.lakehouse.lock`, so the kernel releases it
when its holder exits, however it exits (a SIGKILLed run never leaves a stale lock). The file says
who holds it, for the error message.

A lake on object storage (two machines may share a bucket): a lease object `<lake>/_lakehouse.lock`
(`lakehouse.s3lock`) that says who holds it and until when, renewed by a heartbeat while held; a
lease whose holder died expires and is taken over by the next run, as the kernel frees a local lock.

Nested use in one process (a demo that runs the pipeline) is allowed.

Inside a run, `JobTurns` lets jobs work side by side while keeping the sections that must work
alone (full rebuilds) alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from lakehouse.files import Location
from lakehouse.holder import LakeBusy, holder_text

log = logging.getLogger(__name__)
_HELD: set[Path] = set()


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "another process"
    except OSError:
        return "another process"


@contextlib.contextmanager
def lake_lock(data_dir: Path, wait_seconds: float = 0.0, lake: Location | None = None,
              lease_seconds: float = 30.0) -> Iterator[None]:
    """Hold the lake's write lock; wait up to `wait_seconds` for it, else raise LakeBusy.

    `lake` on object storage takes the lease lock there (`lease_seconds` long, renewed while held);
    otherwise the lock is the local file under `data_dir`."""
    if lake is not None and not lake.is_local:
        from lakehouse.s3lock import held, lease_lock

        taken = not held(lake)
        with lease_lock(lake, wait_seconds, lease_seconds):
            if taken:
                sweep_stale_stages(lake)
            yield
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    path = (data_dir / ".lakehouse.lock").resolve()
    if path in _HELD:
        yield
        return
    handle = path.open("a+")
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LakeBusy(
                        f"{_holder(path)} holds the lake at {data_dir}; wait for it to finish or pass --wait SECONDS"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(holder_text())
        handle.flush()
        _HELD.add(path)
        try:
            if lake is not None:
                sweep_stale_stages(lake)
            yield
        finally:
            _HELD.discard(path)
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def sweep_stale_stages(lake: Location) -> None:
    """Remove the stages a run that did not finish left beside the lake (`lakehouse.staging`);
    called by the lock's new holder, for whom every stage but its own is stale. A store that
    refuses is a warning: the run goes on, and `maintain --purge-erased` removes them later."""
    from lakehouse.files import StorageError
    from lakehouse.staging import FOLDER, sweep

    try:
        swept = sweep(lake)
    except (OSError, StorageError) as exc:
        log.warning("stale staged files under %s not removed: %s", lake / FOLDER, " ".join(str(exc).split())[:300])
        return
    if swept.stages:
        log.warning("%s, left by a run that did not finish", swept.describe(lake / FOLDER))


class JobTurns:
    """Jobs of one run working side by side, and sections of theirs that must work alone.

    Every job of a run works inside `working()`. A section that needs the machine to itself, such as
    a full rebuild (its memory is what one job alone may take), runs inside `alone()`: it waits until
    no other job is working (the others finish, or wait for their own turn alone), and no job starts
    or goes on working beside it until it is done. Sections alone take turns, one at a time.
    """

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._working = 0  # jobs working side by side now
        self._alone = False  # a section works alone now
        self._queued = 0  # sections waiting for their turn alone
        self._mine = threading.local()  # this thread's depth in `working` and `alone`

    def _depth(self, name: str) -> int:
        return int(getattr(self._mine, name, 0))

    def _enter(self) -> None:
        with self._state:
            self._state.wait_for(lambda: not self._alone and not self._queued)
            self._working += 1

    def _leave(self) -> None:
        with self._state:
            self._working -= 1
            self._state.notify_all()

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Work side by side with the run's other jobs (waiting while a section works alone)."""
        self._enter()
        self._mine.working = self._depth("working") + 1
        try:
            yield
        finally:
            self._mine.working -= 1
            self._leave()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """Work with no other job working at the same time."""
        if self._depth("alone"):  # already alone: a section inside another
            yield
            return
        held = self._depth("working") > 0
        with self._state:
            if held:  # step aside, so that two jobs asking at once do not wait for each other
                self._working -= 1
            self._queued += 1
            self._state.notify_all()
            self._state.wait_for(lambda: not self._alone and self._working == 0)
            self._queued -= 1
            self._alone = True
        self._mine.alone = 1
        try:
            yield
        finally:
            self._mine.alone = 0
            with self._state:
                self._alone = False
                self._state.notify_all()
            if held:
                self._enter()
