"""bronze.sales_targets: the operators' CSV, every upload kept whole as raw text.

Typing happens in silver, where typos and wrong types become rejects; here a line is only
quarantined when it cannot be read: it does not have the header's number of fields, or it is
not valid UTF-8 (never replaced silently).

Lines are split on `\\n` only (a `\\r` before it is dropped, so `\\r\\n` files read the same); a
UTF-8 byte-order mark is dropped. The delimiter is the one of `,` `;` tab `|` with which the
header names every column of the contract (`country`, `month`, `target_revenue_eur`), so a file
saved with semicolons reads like one with commas. A header that names them with none of these
delimiters, or with more than one, makes the upload unreadable: `read_upload` says why
(`Upload.problem`) and every line of it goes to quarantine with that reason, the header included.
An upload with no data line that could be read is unreadable too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql.types import LongType, StructField

from lakehouse.bronze.records import Field, Rejected, spark_schema

TABLE = "bronze.sales_targets"
SOURCE = "targets"
FIELDS = [Field("country", "str"), Field("month", "str"), Field("target_revenue_eur", "str")]
SCHEMA = spark_schema(FIELDS, extra=[StructField("_line_no", LongType())])
DELIMITERS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Upload:
    """One upload read: its rows, its quarantined lines and, when it is unreadable as a whole, why."""

    good: list[dict[str, Any]] = field(default_factory=list)
    bad: list[Rejected] = field(default_factory=list)
    delimiter: str | None = None
    problem: str | None = None  # set: nothing of the upload is usable, every line is in `bad`


def _lines(content: bytes) -> list[bytes]:
    """Lines split on `\\n` only, a trailing `\\r` dropped, the BOM dropped; no empty last line."""
    if content.startswith(BOM):
        content = content[len(BOM) :]
    lines = [line[:-1] if line.endswith(b"\r") else line for line in content.split(b"\n")]
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _decode(line: bytes) -> tuple[str, str | None]:
    """The line's text, and the reason it is not valid UTF-8 (its raw text then shows bad bytes as \\xNN)."""
    try:
        return line.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return line.decode("utf-8", errors="backslashreplace"), (
            f"not valid UTF-8: byte(s) {line[exc.start : exc.end]!r} at offset {exc.start}"
        )


def _split(text: str, delimiter: str) -> list[str]:
    return next(csv.reader([text], delimiter=delimiter), [])


def header_delimiter(header: str) -> tuple[str | None, str | None]:
    """The delimiter with which `header` names every contract column, or why there is none."""
    wanted = [f.name for f in FIELDS]
    fits = [d for d in DELIMITERS if all(w in [h.strip().lower() for h in _split(header, d)] for w in wanted)]
    if len(fits) == 1:
        return fits[0], None
    names = ", ".join(wanted)
    if fits:
        several = " and ".join(DELIMITERS[d] for d in fits)
        return None, f"header {header!r} names {names} with several delimiters ({several})"
    return None, f"header {header!r} does not name {names} separated by one of , ; tab |"


def read_upload(content: bytes, origin: str) -> Upload:
    """Rows of the CSV as raw strings keyed by the contract's column names, and the lines that could not be read."""
    lines = _lines(content)
    texts = [_decode(line) for line in lines]
    numbered = [(n, text, reason) for n, (text, reason) in enumerate(texts, start=1)]
    data = [(n, text, reason) for n, text, reason in numbered[1:] if text.strip() or reason]
    header, header_problem = texts[0] if texts else ("", "the file is empty")
    delimiter, problem = (None, f"header {header_problem}") if header_problem else header_delimiter(header)
    if problem is None and not data:
        problem = "no data line under the header"
    if problem is not None:
        return Upload(bad=_all_lines(numbered, origin, problem), problem=problem)
    assert delimiter is not None
    names = [h.strip().lower() for h in _split(header, delimiter)]
    good: list[dict[str, Any]] = []
    bad: list[Rejected] = []
    for line_no, raw, reason in data:
        values = _split(raw, delimiter)
        if reason is None and len(values) != len(names):
            reason = f"expected {len(names)} fields, got {len(values)}"
        if reason is not None:
            bad.append(Rejected(SOURCE, origin, line_no, raw, reason))
            continue
        row = dict(zip(names, values, strict=True))
        good.append({**{f.name: row[f.name] for f in FIELDS}, "_line_no": line_no})
    if not good:
        problem = f"none of its {len(data)} data line(s) could be read"
        return Upload(bad=_all_lines(numbered, origin, problem), delimiter=delimiter, problem=problem)
    return Upload(good, bad, delimiter)


def _all_lines(numbered: list[tuple[int, str, str | None]], origin: str, problem: str) -> list[Rejected]:
    """Every non-blank line of an unreadable upload, each with the upload's problem (and its own)."""
    return [
        Rejected(SOURCE, origin, n, text, f"upload not read: {problem}" + (f"; this line: {reason}" if reason else ""))
        for n, text, reason in numbered
        if text.strip() or reason
    ]


def parse_targets_csv(content: bytes, origin: str) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """`read_upload`'s rows and quarantined lines."""
    upload = read_upload(content, origin)
    return upload.good, upload.bad
