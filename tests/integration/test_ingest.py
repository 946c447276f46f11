"""Bronze ingestion on real Delta tables: nothing lost, nothing twice, crashes repaired, sources down."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.config import Config
from lakehouse.engine import get_session
from lakehouse.generate.fx_server import FxServer
from lakehouse.ingest import ingest_clickstream, ingest_fx
from lakehouse.sources.app_db import SourceUnavailable
from lakehouse.state import IngestState
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)


def _event(i: int, day: str) -> str:
    return json.dumps(
        {"event_id": f"e{day}-{i}", "session_id": f"s{i % 3}", "customer_id": i, "event_type": "page_view",
         "ts": f"{day}T10:00:{i:02d}Z", "page": "/", "product_id": None, "query": None, "device": "web"}
    )


def _land(sources: Path, day: str, name: str, lines: list[str]) -> Path:
    folder = sources / "clickstream" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def lake_config(tmp_path: Path, make_config) -> tuple[Lake, Config]:
    config = make_config(tmp_path)
    return Lake(get_session(config), config.lake_dir), config


class _Run:
    """The run an ingestion tells what it does (`lakehouse.ingest.Run`)."""

    def __init__(self) -> None:
        self.told: list[str] = []

    def landing(self) -> None:
        self.told.append("new records")

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        self.told.append("alone")
        yield
        self.told.append("beside others again")


def test_clickstream_lands_once_with_malformed_lines_quarantined(lake_config: tuple[Lake, Config]) -> None:
    lake, config = lake_config
    first = _land(config.sources_dir, "2026-01-01", "events-0001.jsonl", [_event(i, "2026-01-01") for i in range(5)])
    (first.parent / "events-0001-redelivery.jsonl").write_bytes(first.read_bytes())
    _land(config.sources_dir, "2026-01-02", "events-0001.jsonl", [_event(1, "2026-01-02"), '{"event_id": "x", "ts"'])

    run = _Run()
    result = ingest_clickstream(lake, config, AT, run)
    assert run.told and set(run.told) == {"new records"}  # told before anything was written
    assert (result.records, result.rejected, result.skipped_files) == (6, 1, 1)
    assert lake.read("bronze.events").count() == 6
    quarantined = lake.read("bronze.quarantine").collect()
    assert [(q["source"], q["raw"], q["_line_no"], q["_source"]) for q in quarantined] == [
        ("clickstream", '{"event_id": "x", "ts"', 2, "clickstream/date=2026-01-02/events-0001.jsonl")
    ]
    assert quarantined[0]["reason"].startswith("malformed JSON")
    partitions = {r["_file_date"] for r in lake.read("bronze.events").select("_file_date").distinct().collect()}
    assert partitions == {"2026-01-01", "2026-01-02"}

    again, told = ingest_clickstream(lake, config, AT, run), len(run.told)
    assert (again.records, again.batches) == (0, 0)
    assert len(run.told) == told  # nothing new: nothing told
    assert lake.read("bronze.events").count() == 6


def test_a_crash_before_the_ledger_is_repaired_by_the_rerun(
    lake_config: tuple[Lake, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, config = lake_config
    _land(config.sources_dir, "2026-01-01", "events-0001.jsonl", [_event(i, "2026-01-01") for i in range(4)])

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed between the data commit and the state commit")

    monkeypatch.setattr(IngestState, "record_files", crash)
    with pytest.raises(RuntimeError):
        ingest_clickstream(lake, config, AT)
    assert lake.read("bronze.events").count() == 4  # the data commit happened, the ledger did not
    monkeypatch.undo()

    ingest_clickstream(lake, config, AT)
    events = lake.read("bronze.events")
    assert events.count() == 4
    assert events.select("event_id").distinct().count() == 4


def test_fx_api_down_is_a_clear_error_and_a_retry_succeeds(lake_config: tuple[Lake, Config], make_config) -> None:
    lake, config = lake_config
    rates = config.sources_dir / "fx" / "rates.csv"
    rates.parent.mkdir(parents=True)
    rates.write_text("date,currency,rate\n2026-01-01,EUR,1\n2026-01-01,USD,1.1\n2026-01-02,EUR,1\n2026-01-02,USD,1.2\n")

    with FxServer(rates, down=True) as server:
        down = make_config(config.data_dir, **{"sources.fx.url": server.url})
        with pytest.raises(SourceUnavailable, match="FX rates API .* failed 3 times"):
            ingest_fx(lake, down, AT)
    assert not lake.exists("bronze.fx_rates")

    with FxServer(rates, fail_first=2) as server:
        flaky = make_config(config.data_dir, **{"sources.fx.url": server.url})
        result = ingest_fx(lake, flaky, AT)
    assert result.records == 4
    got = sorted((r["date"], r["currency"], r["rate"]) for r in lake.read("bronze.fx_rates").collect())
    assert got == [("2026-01-01", "EUR", 1.0), ("2026-01-01", "USD", 1.1), ("2026-01-02", "EUR", 1.0),
                   ("2026-01-02", "USD", 1.2)]
    assert ingest_fx(lake, config, AT).records == 0  # watermark: nothing new


def test_app_database_on_postgresql_is_extracted_incrementally(
    tmp_path: Path, make_config, postgres_url: str
) -> None:
    from sqlalchemy import create_engine, text

    from lakehouse.generate import generate_world
    from lakehouse.ingest import ingest_app_db

    config = make_config(tmp_path, **{"sources.app_db_url": postgres_url})
    lake = Lake(get_session(config), config.lake_dir)
    start = config.generator.start_date
    generate_world(config.sources_dir, postgres_url, scale=0.01, seed=5, days=3, start_date=start, progress=False)
    ingest_app_db(lake, config, AT)

    def source_count(table: str) -> int:
        with create_engine(postgres_url).connect() as con:
            return int(con.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    for table in ("products", "orders", "order_items", "erasure_requests"):
        assert lake.read(f"bronze.{table}").count() == source_count(table), table
    # erased customers are gone from the source; bronze holds only what existed at extraction
    assert lake.read("bronze.customers").count() == source_count("customers")

    orders_before = lake.read("bronze.orders").count()
    generate_world(config.sources_dir, postgres_url, scale=0.01, seed=5, days=4, start_date=start, progress=False)
    with create_engine(postgres_url).connect() as con:
        changed = int(con.execute(text("SELECT count(*) FROM orders WHERE updated_at >= :d"),
                                  {"d": f"{start + dt.timedelta(days=3)} 00:00:00"}).scalar_one())
    ingest_app_db(lake, config, AT)
    assert changed > 0
    assert lake.read("bronze.orders").count() == orders_before + changed


@pytest.mark.parametrize(("backlog", "told"), [
    (False, ["new records"]),
    (True, ["new records", "alone", "beside others again"]),  # a backlog's workers take every core
], ids=["a-day", "a-backlog"])
def test_parallel_parsing_lands_the_same_rows(
    lake_config: tuple[Lake, Config], monkeypatch: pytest.MonkeyPatch, backlog: bool, told: list[str]
) -> None:
    import lakehouse.ingest as ingest_module

    lake, config = lake_config
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        _land(config.sources_dir, day, "events-0001.jsonl", [_event(i, day) for i in range(7)] + ["{oops"])
    monkeypatch.setattr(ingest_module, "WORKER_PARSE_BYTES", 0)  # worker processes even for tiny files
    monkeypatch.setattr(ingest_module, "ALONE_PARSE_BYTES", 0 if backlog else 2**60)
    run = _Run()
    result = ingest_clickstream(lake, config, AT, run)
    assert run.told == told
    assert (result.records, result.rejected) == (21, 3)
    got = sorted((r["event_id"], r["_file_date"], r["_line_no"]) for r in lake.read("bronze.events").collect())
    expected = sorted((f"e{d}-{i}", d, i + 1) for d in ("2026-01-01", "2026-01-02", "2026-01-03") for i in range(7))
    assert got == expected
    assert sorted(r["_line_no"] for r in lake.read("bronze.quarantine").collect()) == [8, 8, 8]


def test_parsing_falls_back_to_this_process_when_workers_cannot_start(
    lake_config: tuple[Lake, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    import lakehouse.ingest as ingest_module

    class NoWorkers:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> NoWorkers:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def map(self, *args: object, **kwargs: object) -> list[object]:
            raise BrokenProcessPool("a worker died while starting")

    lake, config = lake_config
    for day in ("2026-01-01", "2026-01-02"):
        _land(config.sources_dir, day, "events-0001.jsonl", [_event(i, day) for i in range(3)])
    monkeypatch.setattr(ingest_module, "WORKER_PARSE_BYTES", 0)
    monkeypatch.setattr(ingest_module, "ProcessPoolExecutor", NoWorkers)
    assert ingest_clickstream(lake, config, AT).records == 6
    assert lake.read("bronze.events").count() == 6
