"""Landed JSON lines to an Arrow table: columnar where the lines are clean, line by line where not.

`parse_json_lines` (`lakehouse.bronze.records`) reads a record at a time in Python so that every
bad line gets its own reason. Here Arrow's JSON reader parses the clean lines of a file in blocks,
and only the lines it cannot vouch for go through `parse_json_lines`: the rows and the rejects
are those `parse_json_lines` gives, line for line (tests/unit/test_jsonl.py compares the two on
generated and mangled files), at columnar cost for clean data.

Arrow's reader is more lenient than the per-line parse (orjson plus the table's field rules) in a
few ways, so a line is only given to it when none of them can apply:

- a line must start with `{`: a top-level `null` is read as a row of nulls (and alone in a block
  crashes the reader), and blank lines would shift the line numbers; it must end with `}` (or
  `}\\r`), or it is cut short and refused anyway: it goes line by line without costing a block;
- `NaN` and `Infinity` (anywhere on the line, even in a field the table ignores) are JSON to
  Arrow, not to the per-line parse;
- a line must be valid UTF-8: Arrow checks only the fields it keeps;
- a line longer than `LONG_LINE` bytes must nest fewer than `MAX_NESTING` brackets: the per-line
  parse refuses documents nested deeper than 1024 levels, Arrow does not.

A block Arrow refuses (a type it cannot convert, a malformed line), or whose result is not one row
per line with every required field present, is halved until its pieces parse or are at most
`SMALL_BLOCK` lines, which are parsed line by line. A bad line costs about two blocks' parse and a
few dozen lines' Python, wherever it is.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from lakehouse.bronze.records import Field, Rejected, parse_json_lines

BLOCK_LINES = 1024  # lines Arrow parses at once (about 200 KB of clickstream)
SMALL_BLOCK = 32  # a refused block this small is parsed line by line
LONG_LINE = 1024  # bytes; a shorter line cannot nest 1024 levels deep
MAX_NESTING = 512  # opening brackets a long line may hold and still go to Arrow
RETRY_SHARE = 3  # a block's lines Arrow may be given, over all its tries, before the rest goes line by line
_REFUSED_ROW = re.compile(r"in row (\d+)$")
_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
LINE_NO = "_line_no"


def parsed_schema(fields: Sequence[Field]) -> pa.Schema:
    """The columns a landed line gives: its fields, then its line number."""
    return pa.schema([pa.field(f.name, _ARROW_TYPES[f.kind]) for f in fields] + [pa.field(LINE_NO, pa.int64())])


@dataclass(frozen=True)
class _Lines:
    """Where each line of `content` starts and ends (its `\\n` excluded), in bytes."""

    content: bytes
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, content: bytes) -> _Lines:
        newlines = np.flatnonzero(np.frombuffer(content, np.uint8) == ord("\n"))
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(content)]))
        if content.endswith(b"\n"):  # no line after the last newline
            starts, ends = starts[:-1], ends[:-1]
        return cls(content, starts, ends)

    def __len__(self) -> int:
        return len(self.starts)

    def span(self, first: int, end: int) -> bytes:
        """The bytes of lines `first` to `end` (exclusive), as they stand in the content."""
        return self.content[self.starts[first] : self.ends[end - 1]]

    def line_at(self, offset: int) -> int:
        return int(np.searchsorted(self.starts, offset, side="right")) - 1


# Bytes as number shapes: every digit a `0`, `E` an `e`, signs and points kept, the rest a space.
_SHAPES = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else b"e"[0] if b in b"eE" else b if b in b"+-." else ord(" ")
    for b in range(256)
)
# Numbers the per-line parse refuses and Arrow does not: one too large for a double (150 digits or
# more, or a three-digit exponent, the only ways to pass 1.8e308) it reads as infinity or ignores.
_TOO_LARGE = (b"0" * 150, b"0e000", b"0e+000")
_NUMBER = frozenset(b"0123456789.+-eE")
_BEFORE_VALUE = frozenset(b":[, \t\r\n")
# An integer minus zero: the per-line parse keeps integer 0 (0.0 in a float field), Arrow -0.0.
_MINUS_ZERO = re.compile(rb"-0(?![0-9.eE])")


def arrow_safe(lines: _Lines) -> np.ndarray:
    """Which lines Arrow's reader may parse: it reads them exactly as the per-line parse would."""
    content, starts, ends = lines.content, lines.starts, lines.ends
    data = np.frombuffer(content, np.uint8)
    safe = ends > starts
    if not len(data):
        return safe
    safe[safe] = data[starts[safe]] == ord("{")
    last = np.maximum(ends - 1, 0)  # a cut line (most malformed lines are) goes line by line at once
    last = np.where((data[last] == ord("\r")) & (last > starts), last - 1, last)
    safe &= data[last] == ord("}")
    # Arrow reads NaN, Inf and Infinity; `}{` is mostly two objects on a line (a row too many)
    for line in _lines_holding(lines, content, (b"NaN", b"Inf", b"}{")):
        safe[line] = False
    for line in _too_large(lines, content.translate(_SHAPES)):
        safe[line] = False
    for found in _MINUS_ZERO.finditer(content):
        safe[lines.line_at(found.start())] = False
    for line in _not_utf8(lines, data):
        safe[line] = False
    for long in np.flatnonzero(ends - starts > LONG_LINE).tolist():
        text = content[starts[long] : ends[long]]
        if text.count(b"{") + text.count(b"[") > MAX_NESTING:
            safe[long] = False
    return safe


def _lines_holding(lines: _Lines, text: bytes, tokens: Sequence[bytes]) -> Iterator[int]:
    """The lines in which `text` (the content or a same-length image of it) holds any of `tokens`."""
    for token in tokens:
        at = text.find(token)
        while at >= 0:
            line = lines.line_at(at)
            yield line
            at = text.find(token, int(lines.ends[line]) + 1)


def _too_large(lines: _Lines, shapes: bytes) -> Iterator[int]:
    """The lines holding a number too large for a double (`_TOO_LARGE` in `shapes`, the content's
    number shapes, where a JSON value starts: not the digits of a string or a `\\u00e9` escape)."""
    content = lines.content
    for token in _TOO_LARGE:
        at = shapes.find(token)
        while at >= 0:
            start = at
            while start > 0 and content[start - 1] in _NUMBER:
                start -= 1
            if start == 0 or content[start - 1] in _BEFORE_VALUE:
                line = lines.line_at(at)
                yield line
                at = shapes.find(token, int(lines.ends[line]) + 1)
            else:
                at = shapes.find(token, at + 1)


def _not_utf8(lines: _Lines, data: np.ndarray) -> Iterator[int]:
    """The lines that are not valid UTF-8 (Arrow checks only the fields it keeps): the whole
    content is decoded once, and only when that fails each line holding a byte past ASCII."""
    try:
        codecs.utf_8_decode(lines.content, "strict", True)
        return
    except UnicodeDecodeError:
        pass
    high = np.unique(np.searchsorted(lines.starts, np.flatnonzero(data >= 0x80), side="right") - 1)
    for line in high.tolist():
        try:
            codecs.utf_8_decode(lines.content[lines.starts[line] : lines.ends[line]], "strict", True)
        except UnicodeDecodeError:
            yield line


def _runs(safe: np.ndarray) -> Iterator[tuple[int, int, bool]]:
    """Consecutive lines of one kind: (first, end, safe); a run of safe lines shorter than
    `SMALL_BLOCK` counts as unsafe (an Arrow call a line or two costs more than it saves)."""
    edges = np.flatnonzero(np.diff(safe.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(safe)]
    for first, end in zip(bounds, bounds[1:], strict=False):
        yield first, end, bool(safe[first]) and end - first >= SMALL_BLOCK


class _Parser:
    """One file's parse: Arrow blocks where it may, the lines around a refused block one by one."""

    def __init__(self, lines: _Lines, fields: Sequence[Field], source: str, origin: str, first_line: int) -> None:
        self.lines, self.fields, self.source, self.origin, self.first_line = lines, fields, source, origin, first_line
        self.schema = parsed_schema(fields)
        self._options = pj.ParseOptions(explicit_schema=self.schema.remove(len(fields)),
                                        unexpected_field_behavior="ignore")
        self._required = [f.name for f in fields if f.required]
        self.tables: list[pa.Table] = []
        self._budget = 0
        self.rejected: list[Rejected] = []

    def block(self, first: int, end: int) -> None:
        """Lines `first` to `end` through Arrow. Where Arrow names the row it refused, the lines
        before it go on through Arrow and that line alone goes line by line; where it does not, the
        block is halved, down to `SMALL_BLOCK` lines parsed line by line. Once Arrow has been given
        `RETRY_SHARE` times a block's lines (a block of many bad lines), the rest of it is read
        line by line: never much more than a line-by-line parse of the block costs."""
        self._budget = RETRY_SHARE * (end - first)
        self._block(first, end)

    def _block(self, first: int, end: int) -> None:
        while first < end:
            if self._budget < end - first:
                self.by_line(first, end)
                return
            self._budget -= end - first
            table, refused = self._arrow(first, end)
            if table is not None:
                self._keep(table, first, end)
                return
            if refused is None:
                break
            if refused > 0:
                self._block(first, first + refused)
            self.by_line(first + refused, first + refused + 1)
            first += refused + 1
        if end - first <= SMALL_BLOCK:
            self.by_line(first, end)
            return
        middle = (first + end) // 2
        self._block(first, middle)
        self._block(middle, end)

    def _keep(self, table: pa.Table, first: int, end: int) -> None:
        """Arrow's rows for lines `first` to `end`, one a line; a line missing a required field
        goes line by line, for its reason (it is a reject: Arrow read every field's kind)."""
        numbers = pa.array(np.arange(first, end, dtype=np.int64) + self.first_line)
        table = table.append_column(LINE_NO, numbers)
        missing = [table.column(n).is_null() for n in self._required if table.column(n).null_count]
        if not missing:
            self.tables.append(table)
            return
        cut = missing[0]
        for more in missing[1:]:
            cut = pc.or_(cut, more)
        self.tables.append(table.filter(pc.invert(cut)))
        for row in np.flatnonzero(cut.to_numpy(zero_copy_only=False)).tolist():
            self.by_line(first + row, first + row + 1)

    def by_line(self, first: int, end: int) -> None:
        if first >= end:
            return
        records, rejected = parse_json_lines(self.lines.span(first, end), self.fields, self.source, self.origin,
                                             self.first_line + first)
        self.rejected += rejected
        if records:
            self.tables.append(pa.Table.from_pylist(records, schema=self.schema))

    def _arrow(self, first: int, end: int) -> tuple[pa.Table | None, int | None]:
        """Arrow's rows for these lines when it gives one a line; else None and the row it names
        as refused, when it names one inside the block."""
        text = self.lines.span(first, end)
        options = pj.ReadOptions(use_threads=False, block_size=len(text) + 1)
        try:
            table = pj.read_json(pa.BufferReader(text), read_options=options, parse_options=self._options)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            named = _REFUSED_ROW.search(str(exc))
            row = int(named.group(1)) if named else None
            return None, row if row is not None and row < end - first else None
        return (table, None) if table.num_rows == end - first else (None, None)


def parse_json_table(
    content: bytes, fields: Sequence[Field], source: str, origin: str, first_line: int = 1
) -> tuple[pa.Table, list[Rejected]]:
    """`parse_json_lines` as an Arrow table (`parsed_schema`): the same rows in the same order,
    the same rejects with the same reasons, columnar for the lines Arrow can read as they are."""
    lines = _Lines.of(content)
    parser = _Parser(lines, fields, source, origin, first_line)
    if not len(lines):
        return parser.schema.empty_table(), []
    pending = 0  # lines from here up to the next Arrow block go line by line, in one call
    for first, end, safe in _runs(arrow_safe(lines)):
        if not safe:
            continue
        parser.by_line(pending, first)
        for start in range(first, end, BLOCK_LINES):
            parser.block(start, min(start + BLOCK_LINES, end))
        pending = end
    parser.by_line(pending, len(lines))
    if not parser.tables:
        return parser.schema.empty_table(), parser.rejected
    table = pa.concat_tables(parser.tables)
    numbers = table.column(LINE_NO).to_numpy()
    if len(numbers) > 1 and not (numbers[1:] > numbers[:-1]).all():  # never expected: rows in line order whatever
        table = table.take(pc.sort_indices(table, [(LINE_NO, "ascending")]))
    rejected = sorted(parser.rejected, key=lambda r: r.line_no)
    return table, rejected
