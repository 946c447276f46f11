"""Benchmark: serving latency at scale 1 and `lakehouse sql` cold start.

    .venv/bin/python -m benchmarks.serving [--data-dir /tmp/bench-serving] [--clients 50] [--requests 2000]

The data directory must hold a built scale-1 world (generate it once:
`lakehouse --data-dir /tmp/bench-serving generate --scale 1 --days 30 && ... run`).
Two `lakehouse serve` processes are measured: one as configured (cached) and one with
`serving.cache_entries=0` (every request computes: uncached). 50 concurrent clients (asyncio +
httpx, closed loop) request the KPI endpoints; references measured in the same run: `/health`
(the HTTP stack alone) and the same KPI query through `POST /sql` on the engine session.
Targets: p95 <= 20 ms cached, <= 100 ms uncached; `lakehouse sql "SELECT 1"` <= 1.5 s whole
process. Results go to benchmarks/results/serving-*.json and benchmarks/serving.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _load(url: str, requests: list[tuple[str, str, dict | None]], clients: int) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, str, dict | None]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, limits=limits,
                                 timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                method, path, body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.request(method, path, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(clients)])
        elapsed = time.perf_counter() - started
    return {"requests": len(latencies), "p50_ms": round(percentile(latencies, 0.5), 2),
            "p95_ms": round(percentile(latencies, 0.95), 2), "p99_ms": round(percentile(latencies, 0.99), 2),
            "throughput_rps": round(len(latencies) / elapsed, 1)}


def load(url: str, requests: list[tuple[str, str, dict | None]], clients: int) -> dict[str, float]:
    asyncio.run(_load(url, requests[: clients * 2], clients))  # warm-up: connections, snapshots, cache
    return asyncio.run(_load(url, requests, clients))


def kpi_requests(n: int) -> list[tuple[str, str, dict | None]]:
    return [("GET", KPI_PATHS[i % len(KPI_PATHS)], None) for i in range(n)]


def cold_start(data_dir: Path, repeat: int) -> dict[str, float]:
    def timed(*args: str) -> float:
        started = time.perf_counter()
        subprocess.run([LAKEHOUSE, "--data-dir", str(data_dir), *args], check=True, capture_output=True)
        return time.perf_counter() - started

    sql = [timed("sql", "SELECT 1") for _ in range(repeat)]
    help_ = [timed("--help") for _ in range(repeat)]
    return {"sql_select_1_s": round(statistics.median(sql), 3), "cli_help_s": round(statistics.median(help_), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/bench-serving"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, object] = {"clients": args.clients, "data_dir": str(args.data_dir)}
    with server(args.data_dir) as url:
        results["health"] = load(url, [("GET", "/health", None)] * args.requests, args.clients)
        results["kpi_cached"] = load(url, kpi_requests(args.requests), args.clients)
    with server(args.data_dir, LAKEHOUSE_SERVING__CACHE_ENTRIES="0") as url:
        results["kpi_uncached"] = load(url, kpi_requests(args.requests // 2), args.clients)
        sql_requests = [("POST", "/sql", {"query": SQL})] * (args.requests // 10)
        results["sql_engine_uncached"] = load(url, sql_requests, args.clients)
    results["cold_start"] = cold_start(args.data_dir, args.repeat)
    out = ROOT / "benchmarks" / "results" / f"serving-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
