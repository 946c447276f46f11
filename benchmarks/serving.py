"""Benchmark: serving latency at scale 1 and `lakehouse sql` cold start.

    .venv/bin/python -m benchmarks.serving [--data-dir /tmp/bench-serving] [--clients 50] [--seconds 10]

The data directory must hold a built scale-1 world (generate it once:
`lakehouse --data-dir /tmp/bench-serving generate --scale 1 --days 30 && ... run`).
Two `lakehouse serve` processes are measured: one as configured (cached) and one with
`serving.cache_entries=0` (every request computes: uncached). 50 concurrent keep-alive clients
(wrk, Debian's `wrk`, closed loop: a client sends its next request when the answer arrives)
request the KPI endpoints in turn; references measured in the same run: `/health`
(the HTTP stack alone) and the same KPI query through `POST /sql` on the engine session.
Targets: p95 <= 20 ms cached, <= 100 ms uncached; `lakehouse sql "SELECT 1"` <= 1.5 s whole
process. Results go to benchmarks/results/serving-*.json and benchmarks/serving.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
KEY = "bench-key"
KPI_PATHS = [
    "/kpi/revenue?start=2026-01-01&end=2026-01-30",
    "/kpi/revenue?by=country&start=2026-01-08&end=2026-01-21",
    "/kpi/revenue?by=category&country=DE&country=FR",
    "/kpi/funnel?start=2026-01-01&end=2026-01-15",
    "/kpi/cold-chain",
    "/kpi/actual-vs-target",
]
# The floor for any Spark Connect client on the embedded engine: import PySpark, start Sail in
# the process, open a session, answer SELECT 1 (the reference: 0.56 s on a quiet day).
BARE_SAIL = """
from pyspark.sql import SparkSession
from pysail.spark import SparkConnectServer
server = SparkConnectServer(ip="127.0.0.1", port=0)
server.start(background=True)
spark = SparkSession.builder.remote(f"sc://127.0.0.1:{server.listening_address[1]}").getOrCreate()
spark.sql("SELECT 1").toPandas()
"""
SQL = "SELECT country, ROUND(SUM(revenue_eur), 2) AS revenue_eur FROM gold.daily_sales GROUP BY country"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(data_dir: Path, **env: str) -> Iterator[str]:
    port = _free_port()
    environ = {**os.environ, "LAKEHOUSE_API_KEYS": KEY, **env}
    cmd = [LAKEHOUSE, "--data-dir", str(data_dir), "serve", "--port", str(port), "--sql-port", str(_free_port())]
    process = subprocess.Popen(cmd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


WRK_SCRIPT = """
local requests, i = {}, 0
function init(args)
  for _, line in ipairs(args) do
    local method, path, body = line:match("^(%u+) ([^ ]+) ?(.*)$")
    local headers = {["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")}
    if body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "non_2xx": %d, "errors": %d, "duration_us": %d, ',
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.duration))
  io.write(string.format('"p50_us": %d, "p95_us": %d, "p99_us": %d}\\n',
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def load(url: str, requests: list[tuple[str, str, dict | None]], clients: int, seconds: float) -> dict[str, float]:
    """`clients` keep-alive connections sending `requests` in turn for `seconds` (wrk, closed loop)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("the serving benchmark needs wrk: apt-get install -y wrk")
    script = ROOT / "benchmarks" / "results" / "serving.lua"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(WRK_SCRIPT)
    lines = [f"{m} {p} {json.dumps(b, separators=(',', ':'))}" if b else f"{m} {p}" for m, p, b in requests]
    env = {**os.environ, "BENCH_KEY": KEY}

    def run(duration: float) -> dict[str, float]:
        cmd = [wrk, "-t", "1", "-c", str(clients), "-d", f"{duration:g}s", "--timeout", "30s", "-s", str(script),
               url, "--", *lines]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    run(2)  # warm-up: connections, snapshots, cache
    raw = run(seconds)
    if raw["non_2xx"] or raw["errors"]:
        raise SystemExit(f"{raw['non_2xx']} non-2xx answers and {raw['errors']} errors: {raw}")
    return {"requests": raw["requests"], "p50_ms": round(raw["p50_us"] / 1000, 2),
            "p95_ms": round(raw["p95_us"] / 1000, 2), "p99_ms": round(raw["p99_us"] / 1000, 2),
            "throughput_rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1)}


KPI_REQUESTS: list[tuple[str, str, dict | None]] = [("GET", path, None) for path in KPI_PATHS]


def cold_start(data_dir: Path, repeat: int) -> dict[str, float]:
    def timed(*args: str) -> float:
        started = time.perf_counter()
        subprocess.run([LAKEHOUSE, "--data-dir", str(data_dir), *args], check=True, capture_output=True)
        return time.perf_counter() - started

    def bare() -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_SAIL], check=True, capture_output=True)
        return time.perf_counter() - started

    sql, help_, floor = [], [], []
    for _ in range(repeat):  # interleaved, so a slow minute of the machine hits all three alike
        sql.append(timed("sql", "SELECT 1"))
        help_.append(timed("--help"))
        floor.append(bare())
    result = {"sql_select_1_s": statistics.median(sql), "cli_help_s": statistics.median(help_),
              "bare_sail_select_1_s": statistics.median(floor)}
    result["sql_over_bare"] = result["sql_select_1_s"] / result["bare_sail_select_1_s"]
    return {k: round(v, 3) for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/bench-serving"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10, help="Load per measurement.")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, object] = {"clients": args.clients, "seconds": args.seconds, "data_dir": str(args.data_dir)}
    with server(args.data_dir) as url:
        results["health"] = load(url, [("GET", "/health", None)], args.clients, args.seconds)
        results["kpi_cached"] = load(url, KPI_REQUESTS, args.clients, args.seconds)
    # every client's query on the engine at once, as before the server capped them (429 past
    # serving.max_concurrent_queries): the reference is the engine's latency, not the cap's
    uncached = {"LAKEHOUSE_SERVING__CACHE_ENTRIES": "0", "LAKEHOUSE_SERVING__MAX_CONCURRENT_QUERIES": str(args.clients)}
    with server(args.data_dir, **uncached) as url:
        results["kpi_uncached"] = load(url, KPI_REQUESTS, args.clients, args.seconds)
        results["sql_engine_uncached"] = load(url, [("POST", "/sql", {"query": SQL})], args.clients, args.seconds)
    results["cold_start"] = cold_start(args.data_dir, args.repeat)
    out = ROOT / "benchmarks" / "results" / f"serving-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
