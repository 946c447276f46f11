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


def _value(field: Field, rng: random.Random) -> object:
    if field.kind == "str":
        return rng.choice(TEXTS) + str(rng.randrange(1000))
    if field.kind == "int":
        return rng.choice([0, -1, 7, 2**31, -(2**63), 2**63 - 1, rng.randrange(-(10**12), 10**12)])
    return rng.choice([0.0, -0.5, 1e-300, 1.7976931348623157e308, 5e-324, 0.1, 2.5e10,
                       rng.uniform(-1e6, 1e6), rng.random(), 3])


def _record(fields: Sequence[Field], rng: random.Random) -> dict[str, object]:
    record: dict[str, object] = {}
    for field in fields:
        roll = rng.random()
        if roll < 0.05 and not field.required:
            continue  # missing
        record[field.name] = None if roll < 0.1 and not field.required else _value(field, rng)
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
    }
    kind = rng.choice(list(cuts))
    return cuts[kind]()


def _flip(line: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(line))
    return line[:at] + bytes([rng.randrange(256)]) + line[at + 1 :]


def _file(fields: Sequence[Field], rng: random.Random, lines: int, bad_share: float, ending: bytes) -> bytes:
    out = []
    for _ in range(lines):
        line = _text(_record(fields, rng), rng)
        out.append(_mangled(line, fields, rng) if rng.random() < bad_share else line)
    return b"\n".join(out) + ending


def _same(content: bytes, fields: Sequence[Field], first_line: int = 1) -> tuple[pa.Table, list]:
    records, rejected = parse_json_lines(content, fields, "src", "f.jsonl", first_line)
    expected = pa.Table.from_pylist(records, schema=jsonl.parsed_schema(fields))
    table, bad = jsonl.parse_json_table(content, fields, "src", "f.jsonl", first_line)
    assert table.schema == expected.schema
    assert table.to_pylist() == expected.to_pylist()
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
    lines = [line for line in _file(events.FIELDS, rng, 5000, 0.0, b"").split(b"\n") if b"NaN" not in line]
    table, bad = jsonl.parse_json_table(b"\n".join(lines) + b"\n", events.FIELDS, "clickstream", "f.jsonl")
    assert (table.num_rows, bad, calls) == (len(lines), [], [])
    assert len(lines) > 2500


def test_a_bad_line_sends_only_a_few_lines_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    rng = random.Random(8)
    lines = [line.replace(b"NaN", b"nan") for line in _file(events.FIELDS, rng, 5000, 0.0, b"").split(b"\n")]
    for at, bad in [(10, b'{"event_id": 5}'), (2500, b'{"event_id":"e","event_type":"x","ts":"t","customer_id":1.5}'),
                    (4000, b'{"event_type":"x","ts":"t"}'), (4990, b"[1]")]:
        lines[at] = bad
    table, rejected = jsonl.parse_json_table(b"\n".join(lines), events.FIELDS, "clickstream", "f.jsonl")
    assert [r.line_no for r in rejected] == [11, 2501, 4001, 4991]
    assert table.num_rows == 4996
    assert sum(calls) <= 4 * jsonl.SMALL_BLOCK
