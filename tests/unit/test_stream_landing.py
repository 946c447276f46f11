"""Kafka values are parsed as JSON lines when they are plain lines, one message at a time when not:
the readings and the rejects are the same either way."""

from __future__ import annotations

import random

import pytest

from lakehouse.streaming import landing
from lakehouse.streaming.landing import Message

GOOD = b'{"device_id":"d-%d","seq":%d,"ts":"2026-01-0%dT10:00:00Z","temperature_c":%s}'


def _values(rng: random.Random, count: int) -> list[bytes | str | None]:
    values: list[bytes | str | None] = []
    for i in range(count):
        value: bytes | str | None = GOOD % (i % 7, i, 1 + i % 9, rng.choice([b"4.5", b"-1", b"null", b"1e3"]))
        roll = rng.random()
        if roll < 0.05:
            value = value[: rng.randrange(len(value))]
        elif roll < 0.08:
            value = value.replace(b'"seq":', b'"seq":"x","s":')
        elif roll < 0.1:
            value = b"\xef\xbb\xbf" + value  # a byte order mark: dropped, as from a file
        elif roll < 0.12:
            value = value.decode()
        elif roll < 0.13:
            value = b'{"device_id":"d","seq":1,"ts":"t","x":NaN}'
        values.append(value)
    return values


def _both(messages: list[Message], monkeypatch: pytest.MonkeyPatch) -> tuple:
    columnar = landing._parse(messages)
    with monkeypatch.context() as m:
        m.setattr(landing, "_as_lines", lambda values: None)
        one_by_one = landing._parse(messages)
    return columnar, one_by_one


ODD = [None, b"", b"  ", b"{}\n{}", b"{}\r", "\ud800"]


@pytest.mark.parametrize("odd", ODD, ids=["none", "empty", "blank", "two lines", "cr", "surrogate"])
def test_values_parse_the_same_as_lines_or_one_by_one(odd: bytes | str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    values = _values(rng, 400)
    messages = [Message(i % 3, 1000 + i, v) for i, v in enumerate(values)]
    (table, rejected), (expected, expected_rejected) = _both(messages, monkeypatch)
    assert table.to_pylist() == expected.to_pylist()
    assert rejected == expected_rejected
    assert 300 < table.num_rows < 400 and len(rejected) > 10
    # one odd value sends the whole batch one message at a time, with the same outcome for the rest
    odd_messages = [*messages[:200], Message(0, 5000, odd), *messages[200:]]
    assert landing._as_lines([landing._value(m.value) for m in odd_messages]) is None
    (table2, rejected2), _ = _both(odd_messages, monkeypatch)
    places = [r["_line_no"] + (r["_line_no"] >= 200) for r in table.to_pylist()]
    assert [r["_line_no"] for r in table2.to_pylist()] == places
    assert [r.origin for r in rejected2 if r.line_no != 5000] == [r.origin for r in rejected]
    assert [r.line_no for r in rejected2 if r.line_no == 5000] == [5000]
