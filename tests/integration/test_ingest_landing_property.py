"""Property: whatever happens to the landing zone between ingestions, every line lands exactly once."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import hashlib
import json
import lzma
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.clock import from_engine
from lakehouse.engine import get_session
from lakehouse.ingest import ingest_clickstream
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
DAYS = ("2026-01-01", "2026-01-02")
PAGE_CHARACTERS = ["a", "/", "é", "😀", "\u2028", "\u2029", "\u0085", " "]
COMPRESS = {"plain": lambda b: b, "gzip": lambda b: gzip.compress(b, mtime=0), "bz2": bz2.compress,
            "xz": lzma.compress}
# a file's name need not say how it is compressed
SUFFIXES = {"plain": [".jsonl", ".jsonl.gz"], "gzip": [".jsonl.gz", ".jsonl"], "bz2": [".jsonl.bz2"],
            "xz": [".jsonl.xz", ".ndjson"]}


@dataclass(frozen=True)
class _File:
    """A landed file as the test made it: its text (`plain`, no byte order mark) and its bytes."""

    plain: bytes
    disk: bytes
    form: str  # a key of COMPRESS
    crlf: bool
    bom: bool
    readable: bool  # False: its gzip bytes were cut short


class _World:
    """Makes landing files from known lines: `good` maps each valid event line to its event id."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.good: dict[bytes, str] = {}
        self.ids = 0
        self.files: dict[str, _File] = {}  # path under clickstream/ -> the file now

    def _id(self) -> str:
        self.ids += 1
        return f"e{self.ids:05d}"

    def event(self, event_id: str | None = None) -> bytes:
        event_id = event_id or self._id()
        page = "".join(self.rng.choice(PAGE_CHARACTERS) for _ in range(self.rng.randint(0, 6)))
        line = json.dumps({"event_id": event_id, "event_type": "page_view", "ts": "2026-01-01T10:00:00Z",
                           "page": page}, ensure_ascii=False).encode()
        self.good[line] = event_id
        return line

    def line(self) -> bytes:
        kind = self.rng.random()
        if kind < 0.65:
            return self.event()
        if kind < 0.8:
            return f'{{"event_id": "{self._id()}", "ts": '.encode()  # malformed
        if kind < 0.92:
            return self.event(self._id() + "_").replace(b'_"', b'\xff"', 1)  # an invalid byte
        return self.rng.choice([b"", b"  "])  # blank

    def part(self, crlf: bool) -> bytes:
        """Some lines; the last one may lack its line end, or be cut anywhere (mid-write)."""
        end = b"\r\n" if crlf else b"\n"
        text = b"".join(self.line() + end for _ in range(self.rng.randint(1, 4)))
        if self.rng.random() < 0.3:
            text = text[: self.rng.randint(max(0, len(text) - 40), len(text) - 1)]
        return text

    def encode(self, plain: bytes, form: str, bom: bool, readable: bool) -> bytes:
        disk = COMPRESS[form](b"\xef\xbb\xbf" * bom + plain)
        return disk if readable else disk[: max(10, len(disk) - 12)]

    def new(self, name: str, form: str | None = None) -> _File:
        rng = self.rng
        form = form or rng.choice(list(COMPRESS))
        crlf, bom = rng.random() < 0.4, rng.random() < 0.3
        readable = form != "gzip" or rng.random() < 0.7
        plain = self.part(crlf)
        return _File(plain, self.encode(plain, form, bom, readable), form, crlf, bom, readable)

    def change(self) -> None:
        rng, names = self.rng, sorted(self.files)
        op = rng.choice(["new", "new", "append", "append", "rewrite", "same size", "re-upload"]) if names else "new"
        if op == "new":
            form = rng.choice(list(COMPRESS))
            name = f"date={rng.choice(DAYS)}/events-{self._id()}{rng.choice(SUFFIXES[form])}"
            self.files[name] = self.new(name, form)
            return
        name = rng.choice(names)
        file = self.files[name]
        if op == "append" and file.readable:
            part = self.part(file.crlf)
            self.files[name] = replace(file, plain=file.plain + part, disk=file.disk + COMPRESS[file.form](part))
        elif op == "same size" and file.form == "plain" and any(line in self.good for line in self._lines(file)):
            lines = file.plain.split(b"\n")
            i = next(i for i, line in enumerate(lines) if line.removesuffix(b"\r") in self.good)
            old = lines[i].removesuffix(b"\r")
            new_id = self._id()  # ids have one width: the file keeps its size
            new = old.replace(self.good[old].encode(), new_id.encode())
            self.good[new] = new_id
            lines[i] = new + lines[i][len(old):]
            plain = b"\n".join(lines)
            self.files[name] = replace(file, plain=plain, disk=self.encode(plain, "plain", file.bom, True))
        elif op == "re-upload":
            self.files[f"date={rng.choice(DAYS)}/events-{self._id()}-copy.jsonl"] = file
        else:  # a rewrite (also what an append to a broken file becomes)
            self.files[name] = self.new(name)

    @staticmethod
    def _lines(file: _File) -> list[bytes]:
        return [line.removesuffix(b"\r") for line in file.plain.split(b"\n")]


def _expected_lines(world: _World, file: _File, since: _File | None) -> dict[int, tuple[str, str]]:
    """line number -> what it must become, for the lines of `file` that `since` had not."""
    old = _World._lines(since) if since is not None else []
    expected = {}
    for i, text in enumerate(_World._lines(file)):
        if not text.strip() or (i < len(old) and old[i] == text):
            continue
        record = text.strip(b" \t\r")  # JSON whitespace around a record (a cut blank line, completed)
        expected[i + 1] = ("bronze", world.good[record]) if record in world.good else (
            "quarantine", text.decode("utf-8", errors="backslashreplace"))
    return expected


@settings(max_examples=3, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32 - 1))  # a seed: each example a whole random landing zone
def test_every_line_of_every_delivered_version_lands_exactly_once(make_config, seed: int) -> None:
    """Files are created, appended to (cut mid-line or not), rewritten (also to the same size),
    re-uploaded under another name; plain, gzip (also named `.jsonl`, also cut short), bzip2 or xz;
    `\\n` or `\\r\\n` line ends, with or without a byte order mark; events whose strings hold
    U+2028, U+2029 or U+0085; malformed lines, lines with an invalid UTF-8 byte and blank lines.
    Several changes happen between two ingestions.

    A *delivered version* is a file's bytes as an ingestion run finds them. Its *lines* are its text
    (decompressed, without the byte order mark) split on `\\n`, one `\\r` dropped from each line's
    end, the piece after the last `\\n` included; blank lines are no records. "Exactly once" means:
    each line of each delivered version that is *new* is one row, in bronze.events (a valid event:
    its id) or bronze.quarantine (anything else: its text, invalid bytes as `\\xNN`), with the
    file's path as `_source`, its line number as `_line_no` and that run's `_ingested_at`; and
    there is no other row. New lines are: none when the version's bytes were delivered before,
    under any name (a re-delivery, or a file changed back); for a version whose bytes extend the
    previous delivered version of the same path (an append), the lines whose number is past the
    previous version's lines or whose text differs at that number (the line a cut was completing);
    for any other version (new file, rewrite), all its lines. A version that cannot be decompressed
    is one quarantine row with line number 0 naming its path, size and sha256.
    """
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(Path(tmp))
        lake = Lake(get_session(config), config.lake_dir)
        root = config.sources_dir / "clickstream"
        world = _World(rng)
        delivered: dict[str, _File] = {}
        delivered_bytes: set[bytes] = set()
        expected: dict[tuple[str, int, int], tuple[str, str]] = {}
        for run in range(3):
            for _ in range(rng.randint(3, 7)):
                world.change()
            for name, file in world.files.items():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(file.disk)
            ingest_clickstream(lake, config, AT + dt.timedelta(minutes=run))

            for name in sorted(world.files):  # as the ingestion lists them: a copy after its original
                file, since, origin = world.files[name], delivered.get(name), f"clickstream/{name}"
                if since is not None and since.disk == file.disk:
                    continue
                delivered[name] = file
                if file.disk in delivered_bytes:
                    continue
                delivered_bytes.add(file.disk)
                if not file.readable:
                    recover = {"path": origin, "size": len(file.disk), "sha256": hashlib.sha256(file.disk).hexdigest()}
                    expected[(origin, run, 0)] = ("quarantine", json.dumps(recover))
                    continue
                appended = since is not None and since.readable and file.disk.startswith(since.disk)
                for line_no, value in _expected_lines(world, file, since if appended else None).items():
                    expected[(origin, run, line_no)] = value

        def run_of(ingested_at: dt.datetime) -> int:
            return int((from_engine(ingested_at) - AT).total_seconds() // 60)

        keys, got = Counter(), {}
        for r in lake.read("bronze.events").collect() if lake.exists("bronze.events") else []:
            key = (r["_source"], run_of(r["_ingested_at"]), r["_line_no"])
            keys[key] += 1
            got[key] = ("bronze", r["event_id"])
        for r in lake.read("bronze.quarantine").collect() if lake.exists("bronze.quarantine") else []:
            key = (r["_source"], run_of(r["_ingested_at"]), r["_line_no"])
            keys[key] += 1
            raw = json.dumps(json.loads(r["raw"])) if key[2] == 0 else r["raw"]
            got[key] = ("quarantine", raw)
        assert [k for k, n in keys.items() if n > 1] == []  # nothing twice
        assert got == expected
