"""Benchmark: Apache Spark's fixed cost per job, this tree against another commit.

    .venv/bin/python benchmarks/spark_fixed_cost.py --baseline GIT_REF [--repeat 3] [--scale 0.01] [--env test]

On a world so small that no job has data worth the name, a job's duration is what it pays whatever
its data: Spark actions (each a scheduled job, one round of tasks), Delta log reads and commits,
staging, checks and bookkeeping. `lakehouse --engine spark run` runs with the code of `GIT_REF`
and of this tree alternately, over the same sources, each with Spark's event log on. Per run:
the wall time, the jobs (rows of ops.job_runs) and the sum and median of their durations, and the
Spark jobs the run scheduled (`SparkListenerJobStart` in its event log). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

from deltalake import DeltaTable

from benchmarks.pipeline import LAKEHOUSE, ROOT, checked_out, generate, measured


def spark_jobs(event_dir: Path) -> int:
    """Spark jobs scheduled in the one event log under `event_dir`."""
    started = 0
    for log in (f for f in event_dir.rglob("*") if f.is_file()):  # a folder of rolled files since Spark 4
        with log.open() as lines:
            started += sum(1 for line in lines if '"Event":"SparkListenerJobStart"' in line)
    return started


def run_once(sources: Path, out: Path, label: str, code_root: Path, env: str) -> dict[str, float]:
    data = out / f"fixed-{label}"
    shutil.rmtree(data, ignore_errors=True)
    (data / "events").mkdir(parents=True)
    (data / "sources").symlink_to(sources)
    jars = code_root / "jvm" / "target"
    if not jars.exists():  # a baseline's work tree: Delta's jars and the JVM class archive of this one
        jars.symlink_to(ROOT / "jvm" / "target", target_is_directory=True)
    conf = json.dumps({"spark.eventLog.enabled": "true", "spark.eventLog.dir": (data / "events").as_uri(),
                       "spark.eventLog.compress": "false"})
    cmd = ["env", f"LAKEHOUSE_ENGINE__CONF={conf}", LAKEHOUSE, "--env", env, "--engine", "spark",
           "--data-dir", str(data), "run"]
    result = measured(cmd, out / f"fixed-{label}.log", code_root)
    runs = DeltaTable(str(data / "lake" / "ops" / "job_runs")).to_pandas()
    durations = runs["duration_s"].astype(float)
    jobs = spark_jobs(data / "events")
    return {"wall_s": round(result.seconds, 2), "jobs": len(runs), "job_seconds": round(float(durations.sum()), 2),
            "median_job_s": round(float(durations.median()), 3), "spark_jobs": jobs,
            "spark_jobs_per_job": round(jobs / len(runs), 1)}


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, metavar="GIT_REF")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--env", default="local", help="the settings (conf/<env>.yaml) of each commit's own tree")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sources, _ = generate(args.scale, args.days, args.out)
    before, now = [], []
    with checked_out(args.baseline) as tree:
        for i in range(args.repeat):
            before.append(run_once(sources, args.out, f"baseline-{i}", tree, args.env))
            now.append(run_once(sources, args.out, f"current-{i}", ROOT, args.env))
            print(f"round {i + 1}: {args.baseline} {before[-1]}, this tree {now[-1]}", flush=True)
    old, new = summary(before), summary(now)
    print(f"\n| medians of {args.repeat} (scale {args.scale:g}) | {args.baseline} | this tree | ratio |")
    print("|---|---|---|---|")
    for key in old:
        ratio = f"{new[key] / old[key]:.2f}" if old[key] else "n/a"
        print(f"| {key} | {old[key]:g} | {new[key]:g} | {ratio} |")


if __name__ == "__main__":
    main()
