"""One writer per lake: runs that change tables hold an exclusive lock on `<data_dir>/.lakehouse.lock`.

The lock is an `fcntl.flock` on an open file, so the kernel releases it when its holder exits,
however it exits (a SIGKILLed run never leaves a stale lock). The file says who holds it, for the
error message. Nested use in one process (a demo that runs the pipeline) is allowed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

_HELD: set[Path] = set()


class LakeBusy(RuntimeError):
    """Another process holds the lake."""


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "another process"
    except OSError:
        return "another process"


@contextlib.contextmanager
def lake_lock(data_dir: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the lake's write lock; wait up to `wait_seconds` for it, else raise LakeBusy."""
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
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200]
        handle.write(f"a run (pid {os.getpid()}, started {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC: {command})")
        handle.flush()
        _HELD.add(path)
        try:
            yield
        finally:
            _HELD.discard(path)
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
