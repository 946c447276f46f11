"""Writing source files so that a reader never sees half of one: write aside, then rename."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def write_atomic(path: Path, content: bytes) -> None:
    """Replace `path` with `content` in one step (the temporary name does not match `*.jsonl`/`*.csv`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def chunk_lines(lines: Sequence[str], per_file: int) -> list[bytes]:
    """Split lines into file contents of at most `per_file` lines each (at least one file)."""
    chunks = [lines[i : i + per_file] for i in range(0, len(lines), per_file)] or [[]]
    return [("\n".join(chunk) + "\n").encode() if chunk else b"" for chunk in chunks]


def write_day_files(folder: Path, prefix: str, contents: Sequence[bytes], redelivered: int | None = None) -> list[Path]:
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
