"""Benchmark: the pipeline with lake and landing on local disk versus on the project's S3 server.

    .venv/bin/python benchmarks/object_storage.py [--scale 1] [--days 30] [--engine embedded]

The world is generated once on local disk; its landing files are then uploaded to a bucket of a
fresh local S3 server (s3proxy, `lakehouse s3`). `lakehouse run` runs once on each storage over the
same sources, each time on a fresh lake, as a separate process. Per-job seconds come from the
run's own summary, so the table shows where object-storage time goes (listing in ingestion,
small commits in the driver-side appends, log reads in every table check). Results go to
benchmarks/results/object_storage-<scale>.json. Nothing here is asserted.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
ROW = re.compile(r"│\s*(\w+)\s*│\s*(\w+)\s*│[^│]*│[^│]*│[^│]*│\s*([\d.]+)\s*│")


def run(data_dir: Path, engine: str, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    done = subprocess.run([LAKEHOUSE, "--engine", engine, "--data-dir", str(data_dir), "run"],
                          env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"run failed:\n{done.stderr[-3000:]}")
    return seconds, {m.group(1): float(m.group(3)) for m in ROW.finditer(done.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--engine", default="embedded")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from lakehouse import s3server
    from lakehouse.files import Location, S3Settings

    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    try:
        local = work / "local"
        start = time.perf_counter()
        subprocess.run([LAKEHOUSE, "--data-dir", str(local), "generate", "--scale", str(args.scale),
                        "--days", str(args.days)], check=True, capture_output=True)
        print(f"generated in {time.perf_counter() - start:.1f} s")
        remote = work / "remote"
        shutil.copytree(local / "sources", remote / "sources")
        server = s3server.start(work / "s3")
        server.create_bucket("bench")
        root = Location("s3://bench", S3Settings.from_env(server.env()))
        start = time.perf_counter()
        files = [p for p in (local / "sources").rglob("*") if p.is_file() and p.parts[-2] != "fx"
                 and p.suffix in (".jsonl", ".csv") and "fx" not in p.parts]
        for path in files:
            (root / "sources" / str(path.relative_to(local / "sources"))).write_bytes(path.read_bytes())
        upload = time.perf_counter() - start
        print(f"uploaded {len(files)} landing files in {upload:.1f} s")
        s3_env = {**server.env(), "LAKEHOUSE_LAKE_URI": "s3://bench/lake", "LAKEHOUSE_LANDING_URI": "s3://bench/sources"}
        results = {}
        for name, data_dir, env in (("local", local, {}), ("s3", remote, s3_env)):
            seconds, jobs = run(data_dir, args.engine, env)
            results[name] = {"seconds": round(seconds, 1), "jobs": jobs}
            print(f"{name}: {seconds:.1f} s")
        s3server.stop(work / "s3")
        print("\n| job | local s | s3 s | ratio |\n|---|---|---|---|")
        for job, local_s in results["local"]["jobs"].items():
            s3_s = results["s3"]["jobs"].get(job, float("nan"))
            print(f"| {job} | {local_s:.2f} | {s3_s:.2f} | {s3_s / local_s if local_s else float('nan'):.1f} |")
        total = results["s3"]["seconds"] / results["local"]["seconds"]
        print(f"| whole run | {results['local']['seconds']} | {results['s3']['seconds']} | {total:.2f} |")
        out = ROOT / "benchmarks" / "results" / f"object_storage-{args.scale:g}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"scale": args.scale, "days": args.days, "engine": args.engine,
                                   "upload_seconds": round(upload, 1), **results}, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
