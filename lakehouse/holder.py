"""Who holds the lake, for both kinds of lake lock (`lakehouse.locking` on a local disk,
`lakehouse.s3lock` on object storage): this process's description, and `LakeBusy` when another
holds it."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys


class LakeBusy(RuntimeError):
    """Another process holds the lake."""


def holder_text() -> str:
    """Who this process is, for the lock's record and another run's error message."""
    # The program and its command words only: an argument may be a path, a query or an email
    # address, and the lock is shown to other runs and, on S3, kept inside the lake.
    words = [w for w in sys.argv[1:] if re.fullmatch(r"[a-z][a-z0-9_-]*", w)][:6]
    command = " ".join([os.path.basename(sys.argv[0]) if sys.argv else "?", *words])
    return f"a run (pid {os.getpid()}, started {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC: {command})"
