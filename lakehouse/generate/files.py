"""Writing source files so that a reader never sees half of one: written aside then renamed on a
local disk, one PUT on object storage (`lakehouse.files.Location.write_bytes`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lakehouse.files import Location


def write_atomic(path: Location | Path, content: bytes) -> None:
    """Replace `path` with `content` in one step (the temporary name does not match `*.jsonl`/`*.csv`)."""
    Location.of(path).write_bytes(content)


def chunk_lines(lines: Sequence[str], per_file: int) -> list[bytes]:
    """Split lines into file contents of at most `per_file` lines each (at least one file)."""
    chunks = [lines[i : i + per_file] for i in range(0, len(lines), per_file)] or [[]]
    return [("\n".join(chunk) + "\n").encode() if chunk else b"" for chunk in chunks]


def write_day_files(folder: Location, prefix: str, contents: Sequence[bytes],
                    redelivered: int | None = None) -> list[Location]:
    """Write `<prefix>-NNNN.jsonl` files; `redelivered` names one to deliver again as `-redelivery`."""
    paths = []
    for index, content in enumerate(contents):
        path = folder / f"{prefix}-{index:04d}.jsonl"
        write_atomic(path, content)
        paths.append(path)
    if redelivered is not None:
        copy = folder / f"{prefix}-{redelivered:04d}-redelivery.jsonl"
        write_atomic(copy, contents[redelivered])
        paths.append(copy)
    return paths
