"""Landing-zone files: list them, fingerprint them, read them.

Files arrive under `<root>/date=YYYY-MM-DD/`. A file is identified by its path; its size and
content hash tell a changed file (appended, rewritten) from the version ingested before, and a
re-delivery (same bytes, another name) from new data.

Content decides how a file is read, not its name: gzip, bzip2 and xz are recognised by their magic
bytes (a `.jsonl` holding gzip bytes is decompressed, a `.gz` holding plain text is read as it is),
a UTF-8 byte order mark is dropped, a UTF-16/32 one is decoded to UTF-8. What cannot be
decompressed or decoded raises `Unreadable`: the caller quarantines the whole file.
"""

from __future__ import annotations

import bz2
import datetime as dt
import fnmatch
import gzip
import hashlib
import logging
import lzma
import zlib
from dataclasses import dataclass

from lakehouse.files import Entry, Location

log = logging.getLogger(__name__)

# Names a writer gives a file it has not finished, or that are not data: never read.
_HIDDEN_PREFIXES = (".", "_")
_TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", "~")
# Names of JSON-lines files, compressed or not. A file named otherwise is still read (its content
# decides), with a warning: skipping it would leave its records nowhere.
_KNOWN_SUFFIXES = (".jsonl", ".ndjson", ".json")
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")

UTF8_BOM = b"\xef\xbb\xbf"
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Formats recognised by their magic bytes that the landing does not read.
_UNSUPPORTED = {b"PK\x03\x04": "zip", b"\x28\xb5\x2f\xfd": "zstd", b"7z\xbc\xaf\x27\x1c": "7z"}


class Unreadable(Exception):
    """A landed file that cannot be decompressed or decoded; the message says why."""


@dataclass(frozen=True)
class LandedFile:
    path: Location
    file_date: str
    content_hash: str
    content: bytes


def skipped_reason(path: Location) -> str | None:
    """Why a file in a date folder is not read (hidden or still being written), or None."""
    name = path.name
    if name.startswith(_HIDDEN_PREFIXES):
        return "a hidden file (its name starts with '.' or '_')"
    if name.lower().endswith(_TEMPORARY_SUFFIXES):
        return "a temporary file (still being written)"
    return None


def known_name(path: Location) -> bool:
    name = path.name.lower()
    for suffix in _COMPRESSED_SUFFIXES:
        name = name.removesuffix(suffix)
    return name.endswith(_KNOWN_SUFFIXES)


def list_landing_files(root: Location | str, pattern: str = "*") -> list[Entry]:
    """Every landed file under `root/date=*/` whose name matches `pattern`, in date then name order,
    with its size and modification time (one listing per folder, also on object storage).

    Hidden and temporary files are left out (logged); a file named unlike JSON lines is listed
    with a warning, and so is a file outside any date folder (which is not listed)."""
    root = Location.of(root)
    files = []
    folders = []
    for entry in root.list():
        if entry.is_dir and entry.name.startswith("date="):
            if _is_iso_date(entry.name.removeprefix("date=")):
                folders.append(entry.location)
            else:
                log.warning("not reading %s: its name is not date=YYYY-MM-DD with a real date", entry.location)
        elif not entry.is_dir and skipped_reason(entry.location) is None:
            log.warning("not reading %s: landing files must sit in a date=YYYY-MM-DD folder", entry.location)
    for entry in (e for folder in folders for e in folder.list()):
        path = entry.location
        if not fnmatch.fnmatchcase(path.name, pattern):
            continue
        if entry.is_dir or entry.size is None:
            if skipped_reason(path) is None:  # a folder, a broken link, a pipe: nothing to read
                log.warning("not reading %s: not a regular file (files in sub-folders are not read)", path)
            continue
        reason = skipped_reason(path)
        if reason is not None:
            log.info("skipping %s: %s", path, reason)
            continue
        if not known_name(path):
            log.warning("reading %s as JSON lines although its name does not say so", path)
        files.append(entry)
    return files


def _is_iso_date(text: str) -> bool:
    try:
        return dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def file_date(path: Location) -> str:
    folder = path.parent.name
    if not folder.startswith("date="):
        raise ValueError(f"{path}: landing files must sit in a date=YYYY-MM-DD folder")
    return folder.removeprefix("date=")


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def compression(content: bytes) -> str | None:
    """The compression `content` is in, by its magic bytes: gzip, bz2, xz, or None (plain)."""
    if content[:2] == b"\x1f\x8b":
        return "gzip"
    if content[:3] == b"BZh" and content[3:4].isdigit() and content[3:4] != b"0":
        return "bz2"
    if content[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return None


def decoded(content: bytes) -> bytes:
    """A landed file's bytes as UTF-8 text bytes: decompressed, without a byte order mark.

    The text itself is not validated here: each line's UTF-8 is checked by its parse, so one bad
    byte costs one line. Raises `Unreadable`."""
    kind = compression(content)
    if kind is not None:
        try:
            if kind == "gzip":
                content = gzip.decompress(content)
            elif kind == "bz2":
                content = bz2.decompress(content)
            else:
                content = lzma.decompress(content)
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            raise Unreadable(f"cannot decompress {kind}: {exc or type(exc).__name__}") from None
    for magic, name in _UNSUPPORTED.items():
        if content.startswith(magic):
            raise Unreadable(f"{name} content is not read (gzip, bzip2 and xz are)")
    if content.startswith(UTF8_BOM):
        return content[len(UTF8_BOM):]
    for boms, codec in ((_UTF32_BOMS, "utf-32"), (_UTF16_BOMS, "utf-16")):
        if content.startswith(boms):
            try:
                return content.decode(codec).encode("utf-8")
            except UnicodeError as exc:
                raise Unreadable(f"cannot decode {codec.upper()} text: {exc}") from None
    return content


def read_landed(path: Location) -> LandedFile:
    content = path.read_bytes()
    return LandedFile(path, file_date(path), content_hash(content), content)
