"""Benchmark: the pipeline with lake and landing on local disk versus on the project's S3 server,
and Apache Spark on `local[2]` versus the project's standalone cluster.

    .venv/bin/python benchmarks/object_storage.py [--scale 1] [--days 30] [--engine embedded|spark]
    .venv/bin/python benchmarks/object_storage.py --compare cluster [--scale 1] [--days 30]

`--compare storage` (the default): the world is generated once on local disk; its landing files are
then uploaded to a bucket of a fresh local S3 server (s3proxy, `lakehouse s3`). `lakehouse run`
runs once on each storage over the same sources, each time on a fresh lake, as a separate process.

`--compare cluster`: `./spark-submit.sh pipeline` once with `--master local[2]` and once against a
standalone master with two workers of one core and 1 GB each (`lakehouse cluster start`), both on
local disk over copies of the same sources: what running on executors in their own JVMs costs.

Per-job seconds come from the run's own summary, so the table shows where the time goes (listing in
ingestion, small commits in the driver-side appends, log reads in every table check). Results go to
benchmarks/results/object_storage-<compare>-<engine>-<scale>.json. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
ROW = re.compile(r"│\s*(\w+)\s*│\s*(\w+)\s*│[^│]*│[^│]*│[^│]*│\s*([\d.]+)\s*│")
SUBMIT_ROW = re.compile(r"lakehouse\.job: (\w+)\s+(\w+)\s+rows_in=\d+ rows_out=\d+ rejects=\d+ ([\d.]+)s")
LANDED = ("clickstream", "telemetry", "targets")


def run(data_dir: Path, engine: str, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    done = subprocess.run([LAKEHOUSE, "--engine", engine, "--data-dir", str(data_dir), "run"],
                          env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"run failed:\n{done.stderr[-3000:]}")
    return seconds, {m.group(1): float(m.group(3)) for m in ROW.finditer(done.stdout)}


def submit(data_dir: Path, master: str) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    done = subprocess.run([str(ROOT / "spark-submit.sh"), "--master", master, "--driver-memory", "2g", "pipeline",
                           "--data-dir", str(data_dir)], env={**os.environ, "PYSPARK_PYTHON": sys.executable},
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"spark-submit.sh pipeline failed:\n{done.stderr[-3000:]}")
    return seconds, {m.group(1): float(m.group(3)) for m in SUBMIT_ROW.finditer(done.stderr + done.stdout)}


def generate(folder: Path, scale: float, days: int) -> None:
    start = time.perf_counter()
    subprocess.run([LAKEHOUSE, "--data-dir", str(folder), "generate", "--scale", str(scale), "--days", str(days)],
                   check=True, capture_output=True)
    print(f"generated in {time.perf_counter() - start:.1f} s")


def compare_storage(work: Path, engine: str) -> tuple[dict[str, dict], dict[str, float]]:
    """Local disk, then S3, for `engine`."""
    from lakehouse import s3server
    from lakehouse.files import Location, S3Settings

    local, remote = work / "local", work / "remote"
    shutil.copytree(local / "sources", remote / "sources")
    server = s3server.start(work / "s3")
    try:
        server.create_bucket("bench")
        root = Location("s3://bench", S3Settings.from_env(server.env()))
        start, count = time.perf_counter(), 0
        for folder in LANDED:
            for path in sorted(p for p in (local / "sources" / folder).rglob("*") if p.is_file()):
                (root / "sources" / str(path.relative_to(local / "sources"))).write_bytes(path.read_bytes())
                count += 1
        upload = time.perf_counter() - start
        print(f"uploaded {count} landing files in {upload:.1f} s")
        s3_env = {**server.env(), "LAKEHOUSE_LAKE_URI": "s3://bench/lake", "LAKEHOUSE_LANDING_URI": "s3://bench/sources"}
        runs: list[tuple[str, Callable[[], tuple[float, dict[str, float]]]]] = [
            ("local", lambda: run(local, engine, {})), ("s3", lambda: run(remote, engine, s3_env))]
        return _measure(runs), {"upload_seconds": round(upload, 1), "landing_files": count}
    finally:
        s3server.stop(work / "s3")


def compare_cluster(work: Path) -> tuple[dict[str, dict], dict[str, float]]:
    """spark-submit on local[2], then on a standalone cluster of two one-core workers."""
    from lakehouse import cluster

    local, remote = work / "local", work / "cluster-run"
    shutil.copytree(local / "sources", remote / "sources")
    started = time.perf_counter()
    running = cluster.start(work / "cluster", workers=2, cores=1, memory="1g")
    start_seconds = time.perf_counter() - started
    print(f"cluster started in {start_seconds:.1f} s")
    try:
        runs: list[tuple[str, Callable[[], tuple[float, dict[str, float]]]]] = [
            ("local[2]", lambda: submit(local, "local[2]")), ("cluster", lambda: submit(remote, running.master_url))]
        return _measure(runs), {"cluster_start_seconds": round(start_seconds, 1)}
    finally:
        cluster.stop(work / "cluster")


def _measure(runs: list[tuple[str, Callable[[], tuple[float, dict[str, float]]]]]) -> dict[str, dict]:
    results = {}
    for name, go in runs:
        seconds, jobs = go()
        results[name] = {"seconds": round(seconds, 1), "jobs": jobs}
        print(f"{name}: {seconds:.1f} s")
    return results


def _table(results: dict[str, dict]) -> None:
    first, second = list(results)
    print(f"\n| job | {first} s | {second} s | ratio |\n|---|---|---|---|")
    for job, a in results[first]["jobs"].items():
        b = results[second]["jobs"].get(job, float("nan"))
        print(f"| {job} | {a:.2f} | {b:.2f} | {b / a if a else float('nan'):.1f} |")
    total = results[second]["seconds"] / results[first]["seconds"]
    print(f"| whole run | {results[first]['seconds']} | {results[second]['seconds']} | {total:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--engine", default="embedded", choices=["embedded", "spark"])
    parser.add_argument("--compare", default="storage", choices=["storage", "cluster"])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    engine = "spark" if args.compare == "cluster" else args.engine
    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    try:
        generate(work / "local", args.scale, args.days)
        if args.compare == "cluster":
            results, extra = compare_cluster(work)
        else:
            results, extra = compare_storage(work, engine)
        _table(results)
        out = ROOT / "benchmarks" / "results" / f"object_storage-{args.compare}-{engine}-{args.scale:g}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"scale": args.scale, "days": args.days, "engine": engine, "compare": args.compare,
                                   **extra, **results}, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
