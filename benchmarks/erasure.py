"""Benchmark: `lakehouse maintain --purge-erased` at scale 1, per engine.

    .venv/bin/python -m benchmarks.erasure [--engines embedded spark] [--erasures 20]

A world of 30 days at scale 1 (seed 42) is generated and run; then `--erasures` customers of
gold.customer_segments ask to be erased (their app-database rows deleted, erasure requests added),
the customer jobs run, and the purge runs twice as its own process (wall time, start-up included).
Files rewritten and removed come from `ops.purges`. Results: benchmarks/erasure.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from deltalake import DeltaTable

from benchmarks.pipeline import LAKEHOUSE, ROOT

OUT = ROOT / "benchmarks" / "results"
JOBS = ["bronze_app_db", "silver_customers", "gold_customer_features", "gold_customer_segments"]


def _cli(data_dir: Path, engine: str, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "LAKEHOUSE_"))}
    start = time.perf_counter()
    subprocess.run([LAKEHOUSE, "--engine", engine, "--data-dir", str(data_dir), *args], check=True, cwd=ROOT,
                   capture_output=True, env=env)
    return time.perf_counter() - start


def _world(erasures: int) -> Path:
    world = OUT / "erasure-world"
    if not (world / "lake").exists():
        shutil.rmtree(world, ignore_errors=True)
        _cli(world, "embedded", "generate", "--scale", "1", "--days", "30", "--seed", "42")
        _cli(world, "embedded", "run")
    return world


def measure(world: Path, engine: str, erasures: int) -> dict:
    data = OUT / f"erasure-{engine}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(world, data)
    ids = sorted(DeltaTable(str(data / "lake" / "gold" / "customer_segments")).to_pandas()["customer_id"])[:erasures]
    with sqlite3.connect(data / "sources" / "app.db") as db:
        db.executemany("DELETE FROM customers WHERE customer_id = ?", [(int(i),) for i in ids])
        db.executemany("INSERT INTO erasure_requests VALUES (?, '2099-01-01 00:00:00')", [(int(i),) for i in ids])
    _cli(data, engine, "run", *JOBS)
    first = _cli(data, engine, "maintain", "--purge-erased")
    second = _cli(data, engine, "maintain", "--purge-erased")
    log = DeltaTable(str(data / "lake" / "ops" / "purges")).to_pandas()
    done = log[log["table"].notna()]
    return {
        "engine": engine, "erasures": erasures, "first_s": round(first, 1), "second_s": round(second, 1),
        "tables": len(done), "rows_scrubbed": int(done["rows_scrubbed"].sum()),
        "files_rewritten": int(done["files_rewritten"].sum()), "files_removed": int(done["files_removed"].sum()),
        "log_entries_removed": int(done["log_entries_removed"].sum()),
        "per_table": done[["table", "rows_scrubbed", "files_rewritten", "files_removed",
                           "log_entries_removed"]].to_dict(orient="records"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["embedded", "spark"])
    parser.add_argument("--erasures", type=int, default=20)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    world = _world(args.erasures)
    results = [measure(world, engine, args.erasures) for engine in args.engines]
    (OUT / "erasure.json").write_text(json.dumps(results, indent=2, default=str))
    print("| engine | purge (s) | second purge (s) | tables | rows scrubbed | files rewritten | files removed "
          "| log entries removed |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['engine']} | {r['first_s']} | {r['second_s']} | {r['tables']} | {r['rows_scrubbed']} "
              f"| {r['files_rewritten']} | {r['files_removed']} | {r['log_entries_removed']} |")
    for r in results:
        print(r["engine"], json.dumps(r["per_table"]))


if __name__ == "__main__":
    main()
