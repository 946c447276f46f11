"""Landing-zone files: list them, fingerprint them, read them.

Files arrive under `<root>/date=YYYY-MM-DD/`. A file is identified by its path; its content hash
tells a re-delivery (same bytes, another name) from new data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LandedFile:
    path: Path
    file_date: str
    content_hash: str
    content: bytes


def list_landing_files(root: Path, pattern: str = "*.jsonl") -> list[Path]:
    """Every landed file under `root/date=*/`, in date then name order."""
    if not root.is_dir():
        return []
    return sorted(root.glob(f"date=*/{pattern}"))


def file_date(path: Path) -> str:
    folder = path.parent.name
    if not folder.startswith("date="):
        raise ValueError(f"{path}: landing files must sit in a date=YYYY-MM-DD folder")
    return folder.removeprefix("date=")


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def read_landed(path: Path) -> LandedFile:
    content = path.read_bytes()
    return LandedFile(path, file_date(path), content_hash(content), content)
