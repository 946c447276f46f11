"""Benchmark: reverse-ETL throughput at scale 1, into PostgreSQL and into the local HTTP CRM.

    .venv/bin/python -m benchmarks.reverse_etl [--world /tmp/bench-serving]

`--world` is a data directory with the pipeline run at scale 1 (it is copied, not changed). The
first sync sends every contact (all inserts). References, measured in the same run on the same
rows: PostgreSQL `COPY` into an empty table (the fastest way in), and the HTTP CRM fed the same
batches by a bare httpx loop (no diff, ledger or retries). Results: benchmarks/reverse_etl.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import uvicorn
from deltalake import DeltaTable

from benchmarks.pipeline import LAKEHOUSE, ROOT
from lakehouse.config import load_config
from lakehouse.engine import get_session
from lakehouse.reverse_etl.changes import contacts
from lakehouse.reverse_etl.crm_server import Faults, create_crm_app
from lakehouse.reverse_etl.demo import start_postgres
from lakehouse.reverse_etl.sync import sync
from lakehouse.reverse_etl.targets import UPSERT_PATH, idempotency_key
from lakehouse.storage import Lake

OUT = ROOT / "benchmarks" / "results"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(world: Path) -> Path:
    target = OUT / "retl-s1"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(world, target, symlinks=True, ignore=shutil.ignore_patterns("mlflow", "crm", "quality"))
    subprocess.run([LAKEHOUSE, "--data-dir", str(target), "run", "gold_customer_segments"], check=True, cwd=ROOT,
                   capture_output=True)
    return target


def copy_reference(url: str, rows: dict[int, dict]) -> float:
    with psycopg.connect(url) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS copy_ref (customer_id bigint PRIMARY KEY, email text, "
                           "country text, segment text, churn_probability double precision, "
                           "lifetime_value_eur double precision, updated_at text)")
        start = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy("COPY copy_ref FROM STDIN") as copy:
            for cid, r in rows.items():
                copy.write_row((cid, r["email"], r["country"], r["segment"], r["churn_probability"],
                                r["lifetime_value_eur"], r["updated_at"]))
        connection.commit()
        return time.perf_counter() - start


def http_reference(url: str, token: str, rows: dict[int, dict], batch: int) -> float:
    items = [{"id": str(c), "idProperty": "customer_id", "properties": r} for c, r in rows.items()]
    start = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        for i in range(0, len(items), batch):
            body = {"inputs": items[i : i + batch]}
            key = "ref-" + idempotency_key(UPSERT_PATH, body)
            client.post(UPSERT_PATH, json=body, headers={"Idempotency-Key": key}).raise_for_status()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", type=Path, default=Path("/tmp/bench-serving"))
    args = parser.parse_args()
    data = prepare(args.world)
    config = load_config(None, overrides={"data_dir": str(data), "crm.requests_per_second": 10_000}, environ={})
    lake = Lake(get_session(config), config.lake_dir)
    lake.register_all()
    rows = contacts(DeltaTable(str(lake.path("gold.customer_segments"))).to_pandas())
    report: dict[str, object] = {"contacts": len(rows)}
    with start_postgres(config) as url:
        os.environ["LAKEHOUSE_CRM_URL"] = url
        start = time.perf_counter()
        result = sync(config, lake, "postgres")
        report["postgres_sync_total_s"] = round(time.perf_counter() - start, 3)  # diff + send + ledger
        report["postgres_sync_send_s"] = round(result.seconds, 3)
        report["postgres_records_per_s"] = round(len(rows) / result.seconds)
        ref = copy_reference(url, rows)
        report["postgres_copy_reference_records_per_s"] = round(len(rows) / ref)
    token = "bench"
    app = create_crm_app(data / "crm" / "bench.db", token, Faults(requests_per_second=100_000, burst=100_000))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    time.sleep(1.0)
    os.environ["LAKEHOUSE_CRM_URL"], os.environ["LAKEHOUSE_CRM_TOKEN"] = f"http://127.0.0.1:{port}", token
    start = time.perf_counter()
    result = sync(config, lake, "http")
    report["http_sync_total_s"] = round(time.perf_counter() - start, 3)
    report["http_sync_send_s"] = round(result.seconds, 3)
    report["http_records_per_s"] = round(len(rows) / result.seconds)
    ref = http_reference(f"http://127.0.0.1:{port}", token, rows, config.crm.batch_size)
    report["http_bare_loop_reference_records_per_s"] = round(len(rows) / ref)
    server.should_exit = True
    print(json.dumps(report, indent=1))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "reverse_etl.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.exit(main())
