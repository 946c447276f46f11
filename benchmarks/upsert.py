"""Benchmark: a 1% upsert into a 20-million-row Delta table, per engine and strategy.

    .venv/bin/python -m benchmarks.upsert [--rows 20000000] [--scenario recent|spread]

The table has `rows` rows over 200 daily partitions (id, day, device, value, note). The source
is 1% of that: half updates of existing ids, half new ids. `recent` puts the updates in the last
three days and the inserts on the newest one (what an incremental day looks like); `spread`
draws the updated ids from the whole table, so every partition is touched.

Each strategy runs in its own process on a fresh copy of the table; the process reports the
upsert's own seconds (an engine first reads the source, writes it once to warm up, and registers
the table, as a job does at its start), and its peak RSS (process tree, JVM included) is sampled
from outside.
- `delta-rs`: `deltalake` MERGE (the reference: ≤ 1.5x its time is the target);
- `sail`: `Lake.upsert` on Sail (rewrites only the partitions the source touches);
- `sail-merge`: Sail's own `MERGE INTO` (rewrites the whole table; off unless `--with-sail-merge`);
- `sail-delta-rs`: `Lake.upsert` on Sail, forced to merge through delta-rs (Sail stages the source);
- `spark`: `Lake.upsert` on Apache Spark in local mode (a delta-rs merge; Spark stages the source);
- `spark-merge`: `Lake.upsert` on Apache Spark, forced to Delta's MERGE (pruned to the source's
  partitions; what a cluster runs);
- `spark-rewrite`: `Lake.upsert` on Apache Spark, forced to rewrite the touched partitions.
Every strategy's result is checked against the others (same rows). Results: benchmarks/upsert.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from benchmarks.pipeline import ROOT, measured

OUT = ROOT / "benchmarks" / "results" / "upsert"
DAYS = 200
KEY = "id"


def prepare(rows: int, scenario: str) -> tuple[Path, Path]:
    """The base table (built once per size) and the source of the scenario, as Parquet."""
    from lakehouse.config import load_config
    from lakehouse.engine import get_session

    base, source = OUT / f"base-{rows}", OUT / f"source-{rows}-{scenario}.parquet"
    spark = get_session(load_config("local", overrides={"engine.kind": "embedded"}, environ={}))
    columns = [
        "id",
        f"date_add(DATE '2026-01-01', CAST(id % {DAYS} AS INT)) AS day",
        "concat('dev-', CAST(id % 997 AS STRING)) AS device",
        "CAST(id % 1000 AS DOUBLE) / 10 AS value",
        "concat('note ', CAST(id AS STRING)) AS note",
    ]
    if not (base / "_delta_log").is_dir():
        spark.range(0, rows).selectExpr(*columns).write.format("delta").partitionBy("day").save(str(base))
    if not source.exists():
        half = rows // 200
        if scenario == "recent":  # updates in the last three days, inserts on the newest
            updated = spark.range(0, rows).where(f"id % {DAYS} >= {DAYS - 3}").limit(half)
            inserted = spark.range(0, half).selectExpr(f"{rows - rows % DAYS} + id * {DAYS} + {DAYS - 1} AS id")
        else:  # updates anywhere
            updated = spark.range(0, rows).where("id % 100 = 7").limit(half)
            inserted = spark.range(rows, rows + half)
        changed = updated.union(inserted).selectExpr(*columns[:4], "concat('upserted ', CAST(id AS STRING)) AS note")
        changed.toPandas().to_parquet(source, index=False)
    spark.stop()
    return base, source


def upsert(strategy: str, table: Path, source: Path) -> float:
    """Run one strategy on `table` (in this process); seconds of the upsert itself."""
    if strategy == "delta-rs":
        data = pq.read_table(source)
        target = DeltaTable(str(table))
        start = time.perf_counter()
        target.merge(data, "t.id = s.id", source_alias="s", target_alias="t").when_matched_update_all() \
            .when_not_matched_insert_all().execute()
        return time.perf_counter() - start
    from lakehouse.config import load_config
    from lakehouse.engine import get_session
    from lakehouse.storage import Lake

    kind = "spark" if strategy.startswith("spark") else "embedded"
    spark = get_session(load_config("local", overrides={"engine.kind": kind}, environ={}))
    lake = Lake(spark, table.parent.parent)
    frame = spark.read.parquet(str(source))
    frame.count()  # the source is read before the clock starts, as delta-rs's is
    # and the engine has written once: a JVM compiles its write path on the first job (delta-rs
    # has nothing to warm), and in a pipeline an upsert comes after many jobs
    frame.write.mode("overwrite").parquet(str(table.parent.parent / "_warm-up"))
    lake.register("silver.bench")  # as a job's process registers every table when it starts
    start = time.perf_counter()
    if strategy == "sail-merge":
        frame.createOrReplaceTempView("s")
        spark.sql(f"MERGE INTO delta.`{table}` AS t USING s ON t.id = s.id "
                  "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
    else:
        chosen = {"spark-merge": "merge", "spark-rewrite": "rewrite", "sail-delta-rs": "delta-rs"}.get(strategy)
        lake.upsert(frame, "silver.bench", [KEY], ["day"], strategy=chosen)
    return time.perf_counter() - start


def checksum(table: Path) -> dict[str, float]:
    data = DeltaTable(str(table)).to_pyarrow_table(columns=["id", "note"])
    upserted = pc.sum(pc.cast(pc.starts_with(data.column("note"), "upserted"), "int64")).as_py()
    return {"rows": data.num_rows, "id_sum": pc.sum(data.column("id")).as_py(), "upserted": upserted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--scenario", choices=["recent", "spread"], default="recent")
    parser.add_argument("--with-sail-merge", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("STRATEGY", "TABLE", "SOURCE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        seconds = upsert(args.child[0], Path(args.child[1]), Path(args.child[2]))
        print(json.dumps({"seconds": seconds}))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    base, source = prepare(args.rows, args.scenario)
    for name in [n for n in os.environ if n.startswith("SPARK_")]:  # the Sail session's: not for children
        del os.environ[name]
    strategies = ["delta-rs", "sail", "sail-delta-rs", "spark", "spark-merge", "spark-rewrite"]
    strategies += ["sail-merge"] if args.with_sail_merge else []
    results: dict[str, dict] = {}
    for strategy in strategies:
        table = OUT / "run" / "silver" / "bench"
        shutil.rmtree(OUT / "run", ignore_errors=True)
        shutil.copytree(base, table)
        log = OUT / f"{strategy}-{args.rows}-{args.scenario}.log"
        cmd = [sys.executable, "-m", "benchmarks.upsert", "--child", strategy, str(table), str(source)]
        process = measured(cmd, log)
        inner = json.loads(log.read_text().strip().splitlines()[-1])
        results[strategy] = {"upsert_s": round(inner["seconds"], 2), "process_s": round(process.seconds, 2),
                             "peak_rss_gb": round(process.peak_rss_gb, 2), **checksum(table)}
        print(strategy, results[strategy], flush=True)
    reference = results["delta-rs"]
    for result in results.values():
        result["vs_delta_rs"] = round(result["upsert_s"] / reference["upsert_s"], 2)
        same = all(result[k] == reference[k] for k in ("rows", "id_sum", "upserted"))
        result["same_rows_as_delta_rs"] = same
    out = OUT.parent / f"upsert-{args.rows}-{args.scenario}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    subprocess.run(["rm", "-rf", str(OUT / "run")], check=False)


if __name__ == "__main__":
    main()
