"""Parsing raw records: what becomes a bronze row and what goes to quarantine, with which reason."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.bronze import events, sales_targets, telemetry
from lakehouse.bronze.records import parse_json_lines, records_table, with_ingestion_columns

GOOD = (
    '{"event_id": "e1", "session_id": "s1", "customer_id": 7, "event_type": "page_view", '
    '"ts": "2026-01-01T10:00:00Z"}'
)


def test_good_lines_parse_and_keep_their_line_numbers() -> None:
    content = f"{GOOD}\n\n{GOOD.replace('e1', 'e2')}\n".encode()
    records, rejected = parse_json_lines(content, events.FIELDS, "clickstream", "f.jsonl")
    assert [(r["event_id"], r["_line_no"]) for r in records] == [("e1", 1), ("e2", 3)]
    assert records[0]["customer_id"] == 7 and records[0]["page"] is None
    assert rejected == []


def test_bad_lines_are_rejected_with_raw_text_and_reason() -> None:
    lines = [
        '{"event_id": "e1", "session_id": "s1", "event_type": "page_view", "ts": "2026-01-01T10:0',  # truncated
        '["not", "an", "object"]',
        '{"session_id": "s1", "event_type": "page_view", "ts": "2026-01-01T10:00:00Z"}',  # no event_id
        GOOD.replace('"customer_id": 7', '"customer_id": "seven"'),
        GOOD.replace('"customer_id": 7', '"customer_id": true'),
        GOOD.replace('"customer_id": 7', '"customer_id": 9223372036854775808'),  # 2**63
    ]
    records, rejected = parse_json_lines("\n".join(lines).encode(), events.FIELDS, "clickstream", "f.jsonl")
    assert records == []
    assert [r.line_no for r in rejected] == [1, 2, 3, 4, 5, 6]
    assert [r.raw for r in rejected] == lines
    reasons = [r.reason for r in rejected]
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1] == "not a JSON object: list"
    assert reasons[2] == "missing required field 'event_id'"
    assert reasons[3].startswith("field 'customer_id': expected integer, got str")
    assert reasons[4].startswith("field 'customer_id': expected integer, got bool")
    assert reasons[5] == "field 'customer_id': integer 9223372036854775808 does not fit in 64 bits"
    assert {r.source for r in rejected} == {"clickstream"} and {r.origin for r in rejected} == {"f.jsonl"}


def test_the_widest_integers_still_parse() -> None:
    lines = [GOOD.replace('"customer_id": 7', f'"customer_id": {v}') for v in (2**63 - 1, -(2**63))]
    records, rejected = parse_json_lines("\n".join(lines).encode(), events.FIELDS, "clickstream", "f.jsonl")
    assert rejected == [] and [r["customer_id"] for r in records] == [9223372036854775807, -9223372036854775808]


def test_parsed_records_become_arrow_rows_with_constant_columns() -> None:
    import pyarrow as pa

    lines = [GOOD, '{"device_id": "x"}']
    records, rejected = parse_json_lines("\n".join(lines).encode(), events.FIELDS, "clickstream", "f.jsonl")
    assert len(records) == 1 and len(rejected) == 1
    schema = pa.schema([("event_id", pa.string()), ("customer_id", pa.int64()), ("page", pa.string()),
                        ("_line_no", pa.int64()), ("_file_date", pa.string()),
                        ("_ingested_at", pa.timestamp("us", tz="UTC"))])
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    table = records_table(records, schema, {"_file_date": "2026-01-01", "_ingested_at": at})
    assert table.schema == schema
    assert table.to_pylist() == [{"event_id": "e1", "customer_id": 7, "page": None, "_line_no": 1,
                                  "_file_date": "2026-01-01", "_ingested_at": at}]
    assert records_table([], schema, {"_file_date": "d", "_ingested_at": at}).num_rows == 0


def test_integers_are_accepted_where_numbers_are_expected() -> None:
    line = b'{"device_id": "van-1", "seq": 3, "ts": "2026-01-01T00:00:00Z", "temperature_c": 4, "humidity": 50.5}'
    records, rejected = parse_json_lines(line, telemetry.FIELDS, "telemetry", "t.jsonl")
    assert rejected == [] and records[0]["temperature_c"] == 4 and records[0]["battery_pct"] is None


def test_targets_csv_keeps_raw_text_and_quarantines_ragged_lines() -> None:
    content = b"country,month,target_revenue_eur\nDE,2026-01,1000\n\nde ,2026-02,12k\nFR,2026-01\n"
    good, bad = sales_targets.parse_targets_csv(content, "targets/sales_targets.csv")
    assert good == [
        {"country": "DE", "month": "2026-01", "target_revenue_eur": "1000", "_line_no": 2},
        {"country": "de ", "month": "2026-02", "target_revenue_eur": "12k", "_line_no": 4},
    ]
    assert [(b.line_no, b.raw, b.reason) for b in bad] == [(5, "FR,2026-01", "expected 3 fields, got 2")]


def test_targets_csv_without_the_contract_header_keeps_every_line_with_the_reason() -> None:
    upload = sales_targets.read_upload(b"land,maand,doel\nDE,2026-01,1\n\nFR,2026-01,2\n", "t.csv")
    reason = (
        "upload not read: header 'land,maand,doel' does not name country, month, target_revenue_eur "
        "separated by one of , ; tab |"
    )
    assert upload.good == [] and upload.problem == reason.removeprefix("upload not read: ")
    assert [(b.line_no, b.raw, b.reason) for b in upload.bad] == [
        (1, "land,maand,doel", reason), (2, "DE,2026-01,1", reason), (4, "FR,2026-01,2", reason)
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_targets_csv_delimiter_is_the_one_the_header_names_the_columns_with(delimiter: str) -> None:
    text = "\n".join(delimiter.join(r) for r in [("Country", "month", "target_revenue_eur"), ("DE", "2026-01", "1,5")])
    good, bad = sales_targets.parse_targets_csv(text.encode(), "t.csv")
    if delimiter == ",":  # `1,5` is two fields here
        assert good == [] and bad[-1].reason.endswith("none of its 1 data line(s) could be read")
    else:
        assert good == [{"country": "DE", "month": "2026-01", "target_revenue_eur": "1,5", "_line_no": 2}]


def test_targets_csv_lines_split_on_newline_only_and_invalid_utf8_is_quarantined() -> None:
    content = "country,month,target_revenue_eur\r\nNL,2026-01,5\u2028\r\n".encode() + b"\xe9S,2026-01,3\r\nFR,2026-01,7"
    good, bad = sales_targets.parse_targets_csv(b"\xef\xbb\xbf" + content, "t.csv")
    assert good == [
        {"country": "NL", "month": "2026-01", "target_revenue_eur": "5\u2028", "_line_no": 2},
        {"country": "FR", "month": "2026-01", "target_revenue_eur": "7", "_line_no": 4},
    ]
    assert [(b.line_no, b.raw, b.reason) for b in bad] == [
        (3, "\\xe9S,2026-01,3", "not valid UTF-8: byte(s) b'\\xe9' at offset 0")
    ]


def test_ingestion_columns_are_added_in_utc() -> None:
    import pandas as pd

    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    frame = with_ingestion_columns(pd.DataFrame({"a": [1, 2]}), "src", "b1", at)
    assert list(frame.columns) == ["a", "_ingested_at", "_source", "_batch_id"]
    assert frame["_ingested_at"].iloc[0] == pd.Timestamp("2026-01-02 01:04:05")
    assert list(frame["_source"]) == ["src", "src"] and list(frame["_batch_id"]) == ["b1", "b1"]


def test_lines_end_at_newlines_only_and_invalid_utf8_is_rejected_with_its_bytes_kept() -> None:
    separators = GOOD.replace('"page_view"', '"page\u2028view\u0085x\u2029"').encode()
    invalid = GOOD.replace('"s1"', '"s\xe9"').encode("latin-1")  # one byte that is no UTF-8
    content = b"\r\n".join([separators, invalid, GOOD.encode(), b"  ", b""])
    records, rejected = parse_json_lines(content, events.FIELDS, "clickstream", "f.jsonl")
    assert [(r["event_type"], r["_line_no"]) for r in records] == [("page\u2028view\u0085x\u2029", 1),
                                                                   ("page_view", 3)]
    assert [(r.line_no, r.raw) for r in rejected] == [(2, GOOD.replace('"s1"', '"s\\xe9"'))]
    position = GOOD.index('"s1"') + 3  # counted from 1: the byte after the quote and the "s"
    assert rejected[0].reason == f"invalid UTF-8: byte 0xe9 at byte {position} (raw shows undecodable bytes as \\xNN)"


def test_landed_bytes_are_decompressed_by_their_magic_and_lose_a_byte_order_mark() -> None:
    import bz2
    import gzip
    import lzma

    import pytest

    from lakehouse.sources.landing import Unreadable, decoded

    text = f"{GOOD}\n".encode()
    assert decoded(b"\xef\xbb\xbf" + text) == text
    assert decoded(gzip.compress(b"\xef\xbb\xbf" + text)) == text
    assert decoded(gzip.compress(text) + gzip.compress(text)) == text + text  # an appended member
    assert decoded(bz2.compress(text)) == decoded(lzma.compress(text)) == text
    assert decoded(("\ufeff" + GOOD).encode("utf-16-le")) == GOOD.encode()
    with pytest.raises(Unreadable, match="cannot decompress gzip"):
        decoded(gzip.compress(text)[:-9])
    with pytest.raises(Unreadable, match="zip content is not read"):
        decoded(b"PK\x03\x04rest")
