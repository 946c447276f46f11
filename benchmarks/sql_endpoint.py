"""Benchmark: what the Spark SQL endpoint's gateway adds to a small gold query.

    .venv/bin/python -m benchmarks.sql_endpoint [--data-dir /tmp/bench-serving] [--engine embedded] [--queries 200]

Starts the SQL endpoint as `lakehouse serve` does (the engine on a loopback port, the gateway in
front of it) over a built world, then one stock PySpark client process opens three sessions:
through the gateway (`sc://localhost:<port>/;token=<key>`), on the engine's own port, and on the
engine's own port with a token (which the engine ignores: this isolates what the client's token
handling costs), and runs the same small gold query on each in turn, `--queries` times after a
warm-up, timing each `spark.sql(...).collect()`. Results go to benchmarks/results/sql-endpoint-*.json;
benchmarks/serving.md has them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from lakehouse.config import load_config
from lakehouse.serving.sql_endpoint import start_sql_endpoint

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
SQL = "SELECT country, SUM(units) AS units FROM gold.daily_sales WHERE country IN ('DE', 'FR') GROUP BY country"
CLIENT = """
import json, sys, time
from pyspark.sql import SparkSession
sql, queries, urls = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
sessions = {name: SparkSession.builder.remote(url).create() for name, url in urls.items()}
times = {name: [] for name in sessions}
for i in range(queries + 20):  # the first 20 of each warm up
    order = list(sessions.items())
    for name, session in order[i % len(order):] + order[:i % len(order)]:
        started = time.perf_counter()
        session.sql(sql).collect()
        if i >= 20:
            times[name].append((time.perf_counter() - started) * 1000)
answers = {name: sorted(map(tuple, s.sql(sql).collect())) for name, s in sessions.items()}
assert len({repr(a) for a in answers.values()}) == 1, answers
print(json.dumps(times))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/bench-serving"))
    parser.add_argument("--engine", default="embedded", choices=["embedded", "spark"])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    config = load_config("local", overrides={"engine.kind": args.engine, "data_dir": str(args.data_dir)})
    endpoint = start_sql_endpoint(config, "127.0.0.1", 0, api_keys=[KEY])
    try:
        urls = {
            "gateway": f"sc://localhost:{endpoint.port}/;token={KEY}",
            "engine": f"sc://127.0.0.1:{endpoint.engine_port}",
            # the engine ignores the token, but the client's per-call token handling is measured
            "engine_with_token": f"sc://localhost:{endpoint.engine_port}/;token={KEY}",
        }
        done = subprocess.run([sys.executable, "-c", CLIENT, SQL, str(args.queries), json.dumps(urls)],
                              capture_output=True, text=True, check=True, env={**os.environ, "SPARK_REMOTE": ""})
    finally:
        endpoint.stop()
    times = json.loads(done.stdout.strip().splitlines()[-1])
    results: dict[str, object] = {"engine": args.engine, "data_dir": str(args.data_dir), "queries": args.queries,
                                  "sql": SQL}
    for name, values in times.items():
        results[name] = {"p50_ms": round(percentile(values, 0.5), 2), "p95_ms": round(percentile(values, 0.95), 2),
                         "mean_ms": round(sum(values) / len(values), 2)}
    for q in ("p50_ms", "p95_ms"):
        results[f"added_{q}"] = round(results["gateway"][q] - results["engine"][q], 2)  # type: ignore[index]
        results[f"added_by_the_hop_{q}"] = round(
            results["gateway"][q] - results["engine_with_token"][q], 2)  # type: ignore[index]
    out = ROOT / "benchmarks" / "results" / f"sql-endpoint-{args.engine}-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
