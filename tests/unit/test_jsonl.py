"""The columnar parse of landed JSON lines gives what the per-line parse gives, line for line.

The per-line parse (`parse_json_lines`: orjson and the field rules, one record at a time) is the
reference: every file here, generated clean or mangled the ways landed files go wrong, must come
out of `parse_json_table` as the same rows, in the same order, with the same line numbers, and the
same rejects with the same reasons.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import orjson
import pyarrow as pa
import pytest

from lakehouse.bronze import events, jsonl, telemetry
from lakehouse.bronze.records import Field, parse_json_lines

TEXTS = ["", "a", "page_view", "é", "日本", "😀", "line\u2028sep", "nul\u0000in", 'quote"d', "back\\slash", "NaN",
         "tab\there", " spaced "]


def _value(field: Field, rng: random.Random, plain: bool) -> object:
    """A value of the field's kind: edge values too, or (`plain`) only what data usually holds."""
    if field.kind == "str":
        return rng.choice(["page_view", "a-b", "é"] if plain else TEXTS) + str(rng.randrange(1000))
    if field.kind == "int":
        return rng.choice([0, 7, rng.randrange(10**6)] if plain else
                          [0, -1, 7, 2**31, -(2**63), 2**63 - 1, rng.randrange(-(10**12), 10**12)])
    if plain:
        return rng.choice([0.0, -0.5, rng.uniform(-1e3, 1e3), 3])
    return rng.choice([0.0, -0.5, 1e-300, 1.7976931348623157e308, 5e-324, 0.1, 2.5e10,
                       rng.uniform(-1e6, 1e6), rng.random(), 3])


def _record(fields: Sequence[Field], rng: random.Random, plain: bool) -> dict[str, object]:
    record: dict[str, object] = {}
    for field in fields:
        roll = rng.random()
        if roll < 0.05 and not field.required:
            continue  # missing
        record[field.name] = None if roll < 0.1 and not field.required else _value(field, rng, plain)
    if rng.random() < 0.2:
        record["extra"] = {"nested": [1, {"deep": [True, None, "x"]}], "n": 1.5}
    keys = list(record)
    rng.shuffle(keys)
    return {k: record[k] for k in keys}


def _text(record: dict[str, object], rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return orjson.dumps(record)
    return json.dumps(record, ensure_ascii=rng.random() < 0.5, indent=None,
                      separators=rng.choice([(",", ":"), (", ", ": "), (" ,", " : ")])).encode()


def _mangled(line: bytes, fields: Sequence[Field], rng: random.Random) -> bytes:
    """`line` gone wrong in one of the ways landed lines do (or left as it is)."""
    name = rng.choice(fields).name.encode()
    cuts = {
        "truncated": lambda: line[: rng.randrange(1, max(2, len(line)))],
        "byte flipped": lambda: _flip(line, rng),
        "invalid utf-8": lambda: line[:-1] + b',"x":"\xff\xfe"}',
        "invalid utf-8 in a kept field": lambda: line.replace(b'"' + name + b'":', b'"' + name + b'":"\xc3\x28",', 1),
        "nan": lambda: line[:-1] + b',"x":NaN}',
        "infinity": lambda: line.replace(b'"' + name + b'":', b'"' + name + b':-Infinity,"y":', 1),
        "top-level null": lambda: b"null",
        "top-level array": lambda: b"[" + line + b"]",
        "top-level number": lambda: b"5",
        "two objects": lambda: line + line,
        "object then null": lambda: line + b"null",
        "blank": lambda: b"",
        "spaces": lambda: b"   \t",
        "crlf": lambda: line + b"\r",
        "leading space": lambda: b"  " + line,
        "deep": lambda: line[:-1] + b',"deep":' + b"[" * 1100 + b"]" * 1100 + b"}",
        "almost deep": lambda: line[:-1] + b',"deep":' + b"[" * 600 + b"]" * 600 + b"}",
        "float for int": lambda: line[:-1] + b',"customer_id":1.0,"seq":2.0}',
        "string for number": lambda: line[:-1] + b',"customer_id":"7","temperature_c":"7"}',
        "bool": lambda: line[:-1] + b',"customer_id":true,"humidity":false}',
        "number for string": lambda: line[:-1] + b',"event_type":5,"device_id":5}',
        "object for string": lambda: line[:-1] + b',"ts":{"a":1}}',
        "huge int": lambda: line[:-1] + b',"customer_id":99999999999999999999,"seq":-9223372036854775809}',
        "duplicate key": lambda: line[:-1] + b',"' + name + b'":"dup"}',
        "required null": lambda: line[:-1] + b',"event_id":null,"device_id":null}',
        "lone surrogate": lambda: line[:-1] + b',"x":"\\ud800"}',
        "raw control": lambda: line[:-1] + b',"x":"a\x01b"}',
        "trailing comma": lambda: line[:-1] + b",}",
        "comment": lambda: line + b" // note",
        "exponent": lambda: line[:-1] + b',"humidity":1e400}',
        "bom inside": lambda: b"\xef\xbb\xbf" + line,
        "pretty": lambda: line.replace(b",", b",\n", 1),
        "inf": lambda: line[:-1] + b',"temperature_c":Inf,"x":-Inf}',
        "overflowing float": lambda: line[:-1] + b',"temperature_c":1.7976931348623159e308}',
        "overflowing ignored": lambda: line[:-1] + b',"x":' + b"1" * 400 + b"}",
        "minus zero": lambda: line[:-1] + b',"temperature_c":-0,"humidity":-0.0}',
        "big int in a float field": lambda: line[:-1] + b',"temperature_c":9007199254740993,'
                                                        b'"humidity":18446744073709551615}',
        "blank between": lambda: line + b"\n",
    }
    kind = rng.choice(list(cuts))
    return cuts[kind]()


def _flip(line: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(line))
    return line[:at] + bytes([rng.randrange(256)]) + line[at + 1 :]


def _file(fields: Sequence[Field], rng: random.Random, lines: int, bad_share: float, ending: bytes,
          plain: bool = False) -> bytes:
    """`lines` generated lines, `bad_share` of them mangled."""
    out = []
    for _ in range(lines):
        line = _text(_record(fields, rng, plain), rng)
        out.append(_mangled(line, fields, rng) if rng.random() < bad_share else line)
    return b"\n".join(out) + ending


def _same(content: bytes, fields: Sequence[Field], first_line: int = 1) -> tuple[pa.Table, list]:
    records, rejected = parse_json_lines(content, fields, "src", "f.jsonl", first_line)
    expected = pa.Table.from_pylist(records, schema=jsonl.parsed_schema(fields))
    table, bad = jsonl.parse_json_table(content, fields, "src", "f.jsonl", first_line)
    assert table.schema == expected.schema
    assert repr(table.to_pylist()) == repr(expected.to_pylist())  # repr: -0.0 is not 0.0 here
    assert [(r.line_no, r.raw, r.reason) for r in bad] == [(r.line_no, r.raw, r.reason) for r in rejected]
    return table, bad


@pytest.mark.parametrize("block", [(1024, 32), (16, 4), (3, 1)], ids=["default", "small", "tiny"])
@pytest.mark.parametrize("table", [events, telemetry], ids=["events", "telemetry"])
def test_mangled_files_parse_as_line_by_line(table, block, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(jsonl, "BLOCK_LINES", block[0])
    monkeypatch.setattr(jsonl, "SMALL_BLOCK", block[1])
    rng = random.Random(20261207)
    seen_bad = seen_good = 0
    for _ in range(60):
        bad_share = rng.choice([0.0, 0.01, 0.1, 0.5, 1.0])
        content = _file(table.FIELDS, rng, rng.randrange(1, 300), bad_share, rng.choice([b"", b"\n", b"\r\n", b"\n\n"]))
        parsed, bad = _same(content, table.FIELDS, first_line=rng.choice([1, 1, 57]))
        seen_bad += len(bad)
        seen_good += parsed.num_rows
    assert seen_bad > 100 and seen_good > 1000  # both kinds of line were there


@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"null", b"null\n{}", b'{"device_id":"d","seq":1,"ts":"t"}' * 2, b"\xef\xbb\xbf",
     b'{"device_id":"d","seq":1,"ts":"t","temperature_c":NaN}', b'{"device_id":"d","seq":1,"ts":"t"}\n\xff'],
    ids=["empty", "newline", "null", "null then empty object", "two objects", "bom", "nan", "bad byte"],
)
def test_edges_parse_as_line_by_line(content: bytes) -> None:
    _same(content, telemetry.FIELDS)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of lines each call of the per-line parse gets."""
    calls: list[int] = []
    real = jsonl.parse_json_lines

    def counted(content: bytes, *args: object) -> object:
        calls.append(content.count(b"\n") + 1)
        return real(content, *args)

    monkeypatch.setattr(jsonl, "parse_json_lines", counted)
    return calls


def test_clean_lines_never_go_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    rng = random.Random(7)
    content = _file(events.FIELDS, rng, 5000, 0.0, b"\n", plain=True)
    table, bad = jsonl.parse_json_table(content, events.FIELDS, "clickstream", "f.jsonl")
    assert (table.num_rows, bad, calls) == (5000, [], [])


def test_a_bad_line_sends_only_a_few_lines_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    rng = random.Random(8)
    lines = _file(events.FIELDS, rng, 5000, 0.0, b"", plain=True).split(b"\n")
    for at, bad in [(10, b'{"event_id": 5}'), (2500, b'{"event_id":"e","event_type":"x","ts":"t","customer_id":1.5}'),
                    (4000, b'{"event_type":"x","ts":"t"}'), (4990, b"[1]")]:
        lines[at] = bad
    table, rejected = jsonl.parse_json_table(b"\n".join(lines), events.FIELDS, "clickstream", "f.jsonl")
    assert [r.line_no for r in rejected] == [11, 2501, 4001, 4991]
    assert table.num_rows == 4996
    assert sum(calls) <= 4 * jsonl.SMALL_BLOCK


GOOD_READING = b'{"device_id":"d1","seq":1,"ts":"2026-01-01T00:00:00Z","temperature_c":20.5}'
PATHOLOGICAL = {
    "every other line a type error": lambda i: GOOD_READING if i % 2 else b'{"device_id":"d","seq":"x","ts":"t"}',
    "every line a float for an integer": lambda i: b'{"device_id":"d","seq":1.5,"ts":"t"}',
    "every third line two objects": lambda i: GOOD_READING if i % 3 else GOOD_READING + b" " + GOOD_READING,
    "blank lines between": lambda i: GOOD_READING if i % 2 else b"",
    "every other line invalid UTF-8": lambda i: GOOD_READING if i % 2 else GOOD_READING[:-1] + b',"x":"\xff"}',
    "every other line NaN": lambda i: GOOD_READING if i % 2 else GOOD_READING[:-1] + b',"x":NaN}',
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_arrow_is_given_each_line_a_few_times_at_most(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of many bad lines costs a bounded multiple of a line-by-line parse, never a parse of
    the rest of the block per bad line."""
    given: list[int] = []
    arrow = jsonl._Parser._arrow

    def counted(parser: jsonl._Parser, first: int, end: int) -> object:
        given.append(end - first)
        return arrow(parser, first, end)

    monkeypatch.setattr(jsonl._Parser, "_arrow", counted)
    count = 20_000
    content = b"\n".join(PATHOLOGICAL[name](i) for i in range(count))
    _same(content, telemetry.FIELDS)
    assert sum(given) <= (jsonl.RETRY_SHARE + 1) * count
    assert len(given) <= count // 8
