"""Benchmark: what the quality gate costs, at scale 1, per engine.

    .venv/bin/python -m benchmarks.quality [--scale 1] [--engines embedded] [--repeat 2]

Bronze is ingested once. Then, on fresh copies of that lake, `lakehouse run silver gold` runs
with the gate on (staging, Great Expectations suites, reject outcomes, volume and freshness,
ops.dq_results, Data Docs) and off (`LAKEHOUSE_QUALITY__ENABLED=false`: the same transforms and
reject rules, written directly). The ratio of the two, measured in the same run, is the gate's
cost (target: under 20% of the jobs' time). Results go to benchmarks/results/quality-*.json and
are summarised in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
from pathlib import Path

from deltalake import DeltaTable

from benchmarks.pipeline import LAKEHOUSE, ROOT, generate, measured

OUT = ROOT / "benchmarks" / "results"


def bronze_base(scale: float, days: int, engine: str) -> Path:
    sources = OUT / f"data-s{scale:g}" / "sources"
    if not sources.exists():
        sources, _ = generate(scale, days, OUT)
    base = OUT / f"quality-s{scale:g}-{engine}-base"
    if not (base / "lake" / "bronze").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        (base / "sources").symlink_to(sources)
        cmd = [LAKEHOUSE, "--engine", engine, "--data-dir", str(base), "run", "bronze"]
        subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return base


def transform(base: Path, engine: str, gate: bool, tag: str) -> tuple[float, dict[str, float]]:
    work = OUT / f"quality-{tag}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work, symlinks=True)
    os.environ["LAKEHOUSE_QUALITY__ENABLED"] = "true" if gate else "false"
    try:
        cmd = [LAKEHOUSE, "--engine", engine, "--data-dir", str(work), "run", "silver", "gold"]
        result = measured(cmd, OUT / f"quality-{tag}.log")
    finally:
        del os.environ["LAKEHOUSE_QUALITY__ENABLED"]
    runs = DeltaTable(str(work / "lake" / "ops" / "job_runs")).to_pandas()
    jobs = {r.job: float(r.duration_s) for r in runs.itertuples() if r.job.split("_")[0] in ("silver", "gold")}
    shutil.rmtree(work, ignore_errors=True)
    return result.seconds, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--engines", nargs="+", default=["embedded"])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    report: dict[str, object] = {"scale": args.scale, "at": dt.datetime.now(dt.UTC).isoformat()}
    for engine in args.engines:
        base = bronze_base(args.scale, args.days, engine)
        timings: dict[bool, list[tuple[float, dict[str, float]]]] = {True: [], False: []}
        for i in range(args.repeat):
            for gate in (False, True):  # interleaved, so drift in the machine's load hits both
                timings[gate].append(transform(base, engine, gate, f"{engine}-{'on' if gate else 'off'}-{i}"))
        off = statistics.median(t[0] for t in timings[False])
        on = statistics.median(t[0] for t in timings[True])
        jobs_off = statistics.median(sum(t[1].values()) for t in timings[False])
        jobs_on = statistics.median(sum(t[1].values()) for t in timings[True])
        report[engine] = {
            "process_seconds_off": round(off, 2),
            "process_seconds_on": round(on, 2),
            "jobs_seconds_off": round(jobs_off, 2),
            "jobs_seconds_on": round(jobs_on, 2),
            "overhead_jobs": round(jobs_on / jobs_off - 1, 3),
            "overhead_process": round(on / off - 1, 3),
            "per_job_on": timings[True][-1][1],
            "per_job_off": timings[False][-1][1],
        }
        print(json.dumps({engine: report[engine]}, indent=1), flush=True)
    out = OUT / f"quality-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
