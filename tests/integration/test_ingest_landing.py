"""Landing files lose nothing: appended and rewritten files, compressed files, line breaks and
encodings, a ledger written before sizes were kept, and the Kafka landing's values."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import hashlib
import json
import lzma
from pathlib import Path

import pytest

from lakehouse.config import Config
from lakehouse.engine import get_session
from lakehouse.ingest import ingest_clickstream
from lakehouse.state import FILES_TABLE
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
DAY = "2026-01-01"


def _event(event_id: str, page: str = "/") -> bytes:
    """One clickstream event as a JSON line (no line end), non-ASCII characters as they are."""
    return json.dumps(
        {"event_id": event_id, "session_id": "s1", "customer_id": 1, "event_type": "page_view",
         "ts": f"{DAY}T10:00:00Z", "page": page, "product_id": None, "query": None, "device": "web"},
        ensure_ascii=False,
    ).encode()


def _lines(*lines: bytes, end: bytes = b"\n") -> bytes:
    return b"".join(line + end for line in lines)


def _folder(config: Config, day: str = DAY) -> Path:
    folder = config.sources_dir / "clickstream" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _origin(path: Path, config: Config) -> str:
    return str(path.relative_to(config.sources_dir))


def _bronze(lake: Lake) -> list[tuple[str, str, int]]:
    """(event_id, _source, _line_no) of every bronze.events row, sorted."""
    if not lake.exists("bronze.events"):
        return []
    return sorted((r["event_id"], r["_source"], r["_line_no"]) for r in lake.read("bronze.events").collect())


def _quarantine(lake: Lake) -> list[tuple[str, int, str, str]]:
    """(_source, _line_no, raw, reason) of every bronze.quarantine row, sorted."""
    if not lake.exists("bronze.quarantine"):
        return []
    rows = lake.read("bronze.quarantine").collect()
    return sorted((r["_source"], r["_line_no"], r["raw"], r["reason"]) for r in rows)


def _ledger(lake: Lake, path: str) -> list[dict]:
    rows = lake.read(FILES_TABLE).where(f"path = '{path}'").collect()
    return sorted((r.asDict() for r in rows), key=lambda r: r["version"] or 0)


@pytest.fixture
def lake_config(tmp_path: Path, make_config) -> tuple[Lake, Config]:
    config = make_config(tmp_path)
    return Lake(get_session(config), config.lake_dir), config


def test_lines_appended_to_an_ingested_file_are_ingested_and_a_rewrite_again_whole(
    lake_config: tuple[Lake, Config],
) -> None:
    lake, config = lake_config
    path = _folder(config) / "events-0000.jsonl"
    origin = _origin(path, config)
    first = _lines(*(_event(f"a{i}") for i in range(3)))
    path.write_bytes(first)
    assert ingest_clickstream(lake, config, AT).records == 3

    appended = first + _lines(*(_event(f"b{i}") for i in range(3)))
    path.write_bytes(appended)
    result = ingest_clickstream(lake, config, AT)
    assert (result.records, result.batches) == (3, 1)
    assert _bronze(lake) == sorted([(f"a{i}", origin, i + 1) for i in range(3)]
                                   + [(f"b{i}", origin, i + 4) for i in range(3)])
    ledger = _ledger(lake, origin)
    assert [(r["status"], r["version"], r["records"], r["size"]) for r in ledger] == [
        ("ingested", 1, 3, len(first)), ("appended", 2, 3, len(appended))]
    assert ledger[1]["previous_hash"] == ledger[0]["content_hash"] == hashlib.sha256(first).hexdigest()
    assert ledger[1]["content_hash"] == hashlib.sha256(appended).hexdigest()

    rewritten = _lines(_event("a0"), _event("c0"))  # changed otherwise: read whole again
    path.write_bytes(rewritten)
    assert ingest_clickstream(lake, config, AT).records == 2
    assert [(e, n) for e, _, n in _bronze(lake)] == sorted(
        [(f"a{i}", i + 1) for i in range(3)] + [(f"b{i}", i + 4) for i in range(3)] + [("a0", 1), ("c0", 2)])
    third = _ledger(lake, origin)[2]
    assert (third["status"], third["version"], third["previous_hash"]) == (
        "rewritten", 3, hashlib.sha256(appended).hexdigest())

    (path.parent / "events-0000-again.jsonl").write_bytes(rewritten)  # a re-delivery under another name
    again = ingest_clickstream(lake, config, AT)
    assert (again.records, again.skipped_files) == (0, 1)
    assert ingest_clickstream(lake, config, AT).batches == 0  # nothing changed: nothing read


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the landed files read from now on (through the file layer)."""
    from lakehouse.files import Location

    read: list[str] = []
    read_bytes = Location.read_bytes

    def counted(self: Location, size: int | None = None) -> bytes:
        read.append(self.name)
        return read_bytes(self, size)

    monkeypatch.setattr(Location, "read_bytes", counted)
    return read


def _bronze_of(lake: Lake, origin: str) -> list[tuple[str, int]]:
    return sorted((e, n) for e, source, n in _bronze(lake) if source == origin)


def test_a_file_uploaded_again_with_the_same_bytes_is_recorded_not_read_and_only_lines_appended_then_land(
    lake_config: tuple[Lake, Config], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A re-upload changes the mtime and nothing else: no batch, the ledger records the new mtime
    (the next run reads nothing); lines appended afterwards land alone, once."""
    import os
    import time

    lake, config = lake_config
    path = _folder(config) / "events-0020.jsonl"
    origin = _origin(path, config)
    minute_ago = time.time_ns() - 60_000_000_000

    def upload(content: bytes, seconds_later: int) -> int:
        path.write_bytes(content)
        mtime = minute_ago + seconds_later * 1_000_000_000  # settled: older than the ledger's 2 s
        os.utime(path, ns=(mtime, mtime))
        return mtime

    first = _lines(*(_event(f"r{i}") for i in range(3)))
    upload(first, 0)
    assert ingest_clickstream(lake, config, AT).records == 3
    again = upload(first, 10)  # the same bytes uploaded again

    result = ingest_clickstream(lake, config, AT)
    assert (result.records, result.batches, result.rejected, result.skipped_files) == (0, 0, 0, 0)
    assert sorted((r["status"], r["version"], r["records"], r["modified_ns"]) for r in _ledger(lake, origin)) == [
        ("ingested", 1, 3, minute_ago), ("unchanged", 1, 0, again)]
    reads = _reads(monkeypatch)
    assert ingest_clickstream(lake, config, AT).batches == 0
    assert path.name not in reads  # its size and new mtime are known: not read again

    upload(first + _lines(_event("r3"), _event("r4")), 20)  # then lines appended to it
    result = ingest_clickstream(lake, config, AT)
    assert (result.records, result.batches) == (2, 1)
    assert _bronze_of(lake, origin) == [(f"r{i}", i + 1) for i in range(5)]  # each line once
    assert sorted((r["status"], r["version"]) for r in _ledger(lake, origin)) == [
        ("appended", 2), ("ingested", 1), ("unchanged", 1)]


def test_an_object_uploaded_again_with_the_same_bytes_is_not_read_again_on_s3(
    engine: str, spark, s3_server, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same on object storage, where every upload (a PUT) gives the object a new
    Last-Modified time, one second apart at least."""
    import time

    from tests.integration import lakes

    lakes.use_s3(spark, engine, s3_server, monkeypatch)
    root = lakes.new_bucket(s3_server, "reupload")
    config = make_config(tmp_path, **{"storage.lake_uri": str(root / "lake"),
                                      "sources.landing_uri": str(root / "sources")})
    lake = Lake(spark, config.lake)
    key = root / "sources" / "clickstream" / f"date={DAY}" / "events-0021.jsonl"
    origin = key.relative_to(root / "sources")

    def upload(content: bytes) -> int:
        key.write_bytes(content)
        time.sleep(2.2)  # settled: older than the ledger's 2 s
        return int(key.info().mtime_ns or 0)

    first = _lines(*(_event(f"s{i}") for i in range(3)))
    before = upload(first)
    assert ingest_clickstream(lake, config, AT).records == 3
    time.sleep(1)  # Last-Modified has a one-second grain
    again = upload(first)
    assert again > before

    result = ingest_clickstream(lake, config, AT)
    assert (result.records, result.batches) == (0, 0)
    reads = _reads(monkeypatch)
    assert ingest_clickstream(lake, config, AT).batches == 0
    assert key.name not in reads

    upload(first + _lines(_event("s3")))
    assert ingest_clickstream(lake, config, AT).records == 1
    assert _bronze_of(lake, origin) == [(f"s{i}", i + 1) for i in range(4)]


def test_a_last_line_cut_mid_write_is_read_again_once_completed(lake_config: tuple[Lake, Config]) -> None:
    lake, config = lake_config
    folder = _folder(config)
    cut = folder / "events-0001.jsonl"
    whole, line = _event("a0"), _event("a1")
    cut.write_bytes(whole + b"\n" + line[:20])  # the writer was cut off inside line 2
    unended = folder / "events-0002.jsonl"
    unended.write_bytes(_event("u0") + b"\n" + _event("u1"))  # complete, without its final newline
    ingest_clickstream(lake, config, AT)

    cut.write_bytes(whole + b"\n" + line + b"\n" + _event("a2") + b"\n")
    unended.write_bytes(_event("u0") + b"\n" + _event("u1") + b"\n" + _event("u2") + b"\n")
    ingest_clickstream(lake, config, AT)
    assert [(e, n) for e, _, n in _bronze(lake)] == [("a0", 1), ("a1", 2), ("a2", 3), ("u0", 1), ("u1", 2),
                                                     ("u2", 3)]
    quarantined = _quarantine(lake)
    assert [(s, n, raw) for s, n, raw, _ in quarantined] == [(_origin(cut, config), 2, line[:20].decode())]


def test_compressed_files_are_read_by_their_content_and_a_broken_one_is_quarantined_whole(
    lake_config: tuple[Lake, Config],
) -> None:
    lake, config = lake_config
    folder = _folder(config)
    (folder / "events-9999.jsonl.gz").write_bytes(gzip.compress(_lines(_event("gz0"), _event("gz1"))))
    (folder / "events-0003.jsonl").write_bytes(gzip.compress(_lines(_event("gzbytes"))))  # gzip, named .jsonl
    (folder / "events-0004.jsonl.bz2").write_bytes(bz2.compress(_lines(_event("bz0"))))
    (folder / "events-0005.jsonl.xz").write_bytes(lzma.compress(_lines(_event("xz0"))))
    (folder / "events-0006.jsonl.gz").write_bytes(_lines(_event("plain")))  # named .gz, plain text
    broken = gzip.compress(_lines(*(_event(f"lost{i}") for i in range(50))))[:-30]
    (folder / "events-0007.jsonl.gz").write_bytes(broken)
    for skipped in (".events-0008.jsonl", "_SUCCESS", "events-0009.jsonl.tmp", "events-0010.jsonl.part"):
        (folder / skipped).write_bytes(_lines(_event("never")))

    result = ingest_clickstream(lake, config, AT)
    assert [e for e, _, _ in _bronze(lake)] == sorted(["gz0", "gz1", "gzbytes", "bz0", "xz0", "plain"])
    assert (result.records, result.rejected) == (6, 1)
    [(source, line_no, raw, reason)] = _quarantine(lake)
    origin, digest = f"clickstream/date={DAY}/events-0007.jsonl.gz", hashlib.sha256(broken).hexdigest()
    assert (source, line_no) == (origin, 0)
    assert json.loads(raw) == {"path": origin, "size": len(broken), "sha256": digest}
    assert reason.startswith(f"unreadable file {origin} ({len(broken)} bytes, sha256 {digest}): cannot decompress gzip")
    paths = {r["path"] for r in lake.read(FILES_TABLE).collect()}
    assert paths == {f"clickstream/date={DAY}/events-{n}" for n in (
        "9999.jsonl.gz", "0003.jsonl", "0004.jsonl.bz2", "0005.jsonl.xz", "0006.jsonl.gz", "0007.jsonl.gz")}

    # more gzip appended to a gzip file (a second member) is an append
    path = folder / "events-9999.jsonl.gz"
    path.write_bytes(path.read_bytes() + gzip.compress(_lines(_event("gz2"))))
    assert ingest_clickstream(lake, config, AT).records == 1
    assert ("gz2", f"clickstream/date={DAY}/events-9999.jsonl.gz", 3) in _bronze(lake)


def test_lines_split_on_newlines_only_and_invalid_utf8_is_quarantined_not_replaced(
    lake_config: tuple[Lake, Config],
) -> None:
    lake, config = lake_config
    folder = _folder(config)
    separators = "line\u2028separator, next\u0085line, paragraph\u2029end"
    invalid = _event("bad", "caf_").replace(b"caf_", b"caf\xe9")  # Latin-1 é inside a string
    content = b"\xef\xbb\xbf" + _lines(_event("bom"), _event("sep", separators), invalid, _event("crlf"), end=b"\r\n")
    (folder / "events-0011.jsonl").write_bytes(content)

    result = ingest_clickstream(lake, config, AT)
    assert (result.records, result.rejected) == (3, 1)
    origin = f"clickstream/date={DAY}/events-0011.jsonl"
    assert _bronze(lake) == [("bom", origin, 1), ("crlf", origin, 4), ("sep", origin, 2)]
    page = lake.read("bronze.events").where("event_id = 'sep'").collect()[0]["page"]
    assert page == separators
    [(source, line_no, raw, reason)] = _quarantine(lake)
    assert (source, line_no) == (origin, 3)
    assert raw == invalid.decode("latin-1").replace("é", "\\xe9")  # the byte, recoverable
    assert reason.startswith("invalid UTF-8: byte 0xe9 at byte ")


def test_a_ledger_written_before_sizes_were_kept_still_works(lake_config: tuple[Lake, Config]) -> None:
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    lake, config = lake_config
    folder = _folder(config)
    old_file, new_file = folder / "events-0012.jsonl", folder / "events-0013.jsonl"
    first = _lines(_event("old0"), _event("old1"))
    old_file.write_bytes(first)
    # the ledger as it was: no size, version, previous hash or mtime columns
    old_schema = StructType([StructField("source", StringType()), StructField("path", StringType()),
                             StructField("content_hash", StringType()), StructField("status", StringType()),
                             StructField("records", LongType()), StructField("rejected", LongType()),
                             StructField("_batch_id", StringType()), StructField("ingested_at", TimestampType())])
    lake.append_rows([("clickstream", _origin(old_file, config), hashlib.sha256(first).hexdigest(), "ingested", 2, 0,
                       "old-batch", dt.datetime(2026, 1, 1))], old_schema, FILES_TABLE)
    new_file.write_bytes(_lines(_event("new0")))

    assert ingest_clickstream(lake, config, AT).records == 1  # the old file unchanged: not read
    old_file.write_bytes(first + _lines(_event("old2")))
    # no size in the old entry: an append cannot be told from a rewrite, the file is read whole again
    assert ingest_clickstream(lake, config, AT).records == 3
    ledger = _ledger(lake, _origin(old_file, config))
    assert [(r["status"], r["version"], r["size"]) for r in ledger] == [
        ("ingested", None, None), ("rewritten", 2, len(first) + len(_event("old2")) + 1)]
    old_file.write_bytes(first + _lines(_event("old2"), _event("old3")))
    assert ingest_clickstream(lake, config, AT).records == 1  # now it has a size: an append
    # (old0 and old1 of the first version are only in the ledger written by hand above)
    assert sorted(e for e, _, _ in _bronze(lake)) == ["new0", "old0", "old1", "old2", "old3"]


def test_kafka_values_are_one_record_each_and_invalid_utf8_is_quarantined(lake_config: tuple[Lake, Config]) -> None:
    from lakehouse.streaming.landing import Message, StreamState, land

    lake, _ = lake_config

    def reading(seq: int, device: str = "van-1") -> bytes:
        return json.dumps({"device_id": device, "seq": seq, "ts": f"{DAY}T00:00:0{seq}Z", "temperature_c": 4.5},
                          ensure_ascii=False).encode()

    odd_device = "van\u2028b\u0085c"
    messages = [
        Message(0, 0, reading(0)),
        Message(0, 1, reading(1, odd_device)),  # one message, one record: no splitting
        Message(0, 2, b"\xef\xbb\xbf" + reading(2) + b"\r\n"),
        Message(0, 3, reading(3, "van_").replace(b"van_", b"van\xff")),
    ]
    landed = land(lake, messages, StreamState(), AT)
    assert (landed.records, landed.quarantined) == (3, 1)
    rows = sorted((r["seq"], r["device_id"], r["_source"]) for r in lake.read("bronze.telemetry").collect())
    assert rows == [(0, "van-1", "fleet.telemetry/0/0"), (1, odd_device, "fleet.telemetry/0/1"),
                    (2, "van-1", "fleet.telemetry/0/2")]
    [(source, line_no, raw, reason)] = _quarantine(lake)
    assert (source, line_no) == ("fleet.telemetry/0/3", 3)
    assert raw == reading(3, "van_").decode().replace("van_", "van\\xff")
    assert reason.startswith("invalid UTF-8: byte 0xff")


@pytest.mark.parametrize("feature", ["'delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2', "
                                     "'delta.minWriterVersion' = '5'", "'delta.enableDeletionVectors' = 'true'"],
                         ids=["column-mapping", "deletion-vectors"])
def test_ingestion_goes_on_when_bronze_has_a_feature_delta_rs_does_not_write(
    engine: str, lake_config: tuple[Lake, Config], feature: str
) -> None:
    """An operator turns on a table feature on bronze that Apache Spark allows (column mapping, to
    drop or rename a column): delta-rs refuses to append to it, so landed files are appended by the
    engine there, in one commit, nothing lost."""
    if engine != "spark":
        pytest.skip("Sail 0.7.2 takes no ALTER TABLE on a path, and on a registered table turns column mapping "
                    "on without the columns' physical names, after which no reader opens it (docs/engines.md)")
    lake, config = lake_config
    first = _folder(config) / "events-0000.jsonl"
    first.write_bytes(_lines(_event("a1"), _event("a2")))
    assert ingest_clickstream(lake, config, AT).records == 2
    lake.spark.sql(f"ALTER TABLE delta.`{lake.path('bronze.events')}` SET TBLPROPERTIES ({feature})")
    before = lake.version("bronze.events")
    (_folder(config, "2026-01-02") / "events-0001.jsonl").write_bytes(_lines(_event("b1"), _event("b2"), b"{cut"))
    result = ingest_clickstream(lake, config, AT + dt.timedelta(days=1))
    assert (result.records, result.rejected) == (2, 1)
    assert lake.version("bronze.events") == before + 1
    assert [row[0] for row in _bronze(lake)] == ["a1", "a2", "b1", "b2"]
    assert ingest_clickstream(lake, config, AT + dt.timedelta(days=2)).records == 0  # a rerun adds nothing
    assert len(_bronze(lake)) == 4
