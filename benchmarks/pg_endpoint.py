"""Benchmark: the PostgreSQL endpoint against the REST `/sql` and the Spark SQL endpoint, in one run.

    .venv/bin/python -m benchmarks.pg_endpoint [--engine embedded] [--queries 200] [--load-seconds 30]

Starts `lakehouse serve --pg-port` over the small lake of the endpoint's tests, then times the same
small gold query (`--queries` times after 20 of warm-up, a different literal each time so no door
answers from a cache) through psycopg (extended protocol, one connection), `POST /sql` (httpx,
keep-alive) and Spark Connect (stock PySpark through the gateway), and finally runs 20 JDBC clients
(the PostgreSQL driver, one connection each) for `--load-seconds`, counting queries and errors.
Results go to benchmarks/results/pg-endpoint-*.json; benchmarks/pg_endpoint.md has them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.integration.pg import make_lake  # noqa: E402

KEY = "bench-key"
SQL = ("SELECT country, sum(units) AS units FROM gold.daily_sales WHERE units >= {n} AND country IN ('DE', 'FR') "
       "GROUP BY country ORDER BY country")
JAR = ROOT / "jvm" / "pg" / "target" / "jars" / "postgresql-42.7.7.jar"
PROBE = ROOT / "tests" / "integration" / "pg" / "Probe.java"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(run, queries: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for i in range(queries + 20):
        started = time.perf_counter()
        run(-i)
        if i >= 20:
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="embedded", choices=["embedded", "spark"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-pg-")) / "world"
    make_lake.write(data_dir / "lake")
    api, sql, pg = _port(), _port(), _port()
    log = data_dir.parent / "serve.log"
    command = [str(Path(sys.executable).parent / "lakehouse"), "--env", "local", "--engine", args.engine,
               "--data-dir", str(data_dir), "serve", "--port", str(api), "--sql-port", str(sql), "--pg-port", str(pg)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "LAKEHOUSE_API_KEYS": KEY}, stdout=out,
                                  stderr=subprocess.STDOUT)
    dsn = f"host=127.0.0.1 port={pg} dbname=lakehouse user=bench password={KEY} sslmode=disable"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with psycopg.connect(dsn, connect_timeout=5) as conn:
                    conn.execute(SQL.format(n=0)).fetchall()
                break
            except psycopg.Error:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(log.read_text()[-3000:]) from None
                time.sleep(0.5)
        results: dict[str, list[float]] = {}
        with psycopg.connect(dsn) as conn:  # a parameter: Parse/Bind/Describe/Execute/Sync
            results["postgresql (psycopg)"] = _timed(
                lambda n: conn.execute(SQL.format(n="%s"), (n,)).fetchall(), args.queries)
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
            url = f"http://127.0.0.1:{api}/sql"
            results["REST POST /sql (httpx)"] = _timed(
                lambda n: client.post(url, json={"query": SQL.format(n=n)}).raise_for_status(), args.queries)
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.remote(f"sc://localhost:{sql}/;token={KEY}").create()
        results["Spark SQL endpoint (PySpark)"] = _timed(lambda n: spark.sql(SQL.format(n=n)).collect(), args.queries)
        load = subprocess.run(["java", "-cp", str(JAR), str(PROBE), f"jdbc:postgresql://127.0.0.1:{pg}/lakehouse", KEY,
                               f"load:{args.load_seconds}:{args.clients}"], capture_output=True, text=True, timeout=600)
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = {name: {"p50_ms": round(percentile(t, 0.5), 1), "p95_ms": round(percentile(t, 0.95), 1),
                      "queries": len(t)} for name, t in results.items()}
    report = {"engine": args.engine, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "latency": summary,
              "jdbc_load": {"clients": args.clients, "seconds": args.load_seconds,
                            "result": load.stdout.strip() or load.stderr[-500:]}}
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"pg-endpoint-{args.engine}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
