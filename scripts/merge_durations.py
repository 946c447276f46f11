"""Merge the test times one Spark part measured into the durations file pytest-split reads.

Usage: merge_durations.py KEPT MEASURED. Times of tests in MEASURED replace those in KEPT; tests
no longer collected anywhere are dropped the next time the whole file is rebuilt from scratch
(delete it and run the suite with LAKEHOUSE_TEST_STORE_DURATIONS=1). Parts of one run finish at
different times, so the file is locked while it is read and written.
"""

from __future__ import annotations

import fcntl
import json
import sys
from pathlib import Path


def main(kept: Path, measured: Path) -> None:
    new = json.loads(measured.read_text())
    kept.parent.mkdir(parents=True, exist_ok=True)
    with kept.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        durations = json.loads(text) if text.strip() else {}
        durations.update({test: round(seconds, 2) for test, seconds in new.items()})
        handle.seek(0)
        handle.truncate()
        json.dump(durations, handle, sort_keys=True, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
