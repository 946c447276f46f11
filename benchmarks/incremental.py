"""Benchmark: one incremental day against a full rebuild, on the embedded engine.

    .venv/bin/python -m benchmarks.incremental [--scale 10] [--days 30]

A world of `days` days is generated and taken through the pipeline; then one more day is
generated and the same lake (copied twice) runs `lakehouse run` (incremental) and
`lakehouse run --full` (every silver and gold table rebuilt; bronze is incremental in both).
Both runs are timed as whole processes with their peak RSS, and the seconds per job come from
`ops.job_runs`, as does the span of the silver and gold jobs (the transformation alone, without the
new day's landing in bronze, which both modes do the same). Both lakes must end with the same
silver and gold rows (checked).
Target: the incremental day takes ≤ 10% of the full rebuild. Results: benchmarks/incremental.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from benchmarks.pipeline import LAKEHOUSE, ROOT, Measure, measured

OUT = ROOT / "benchmarks" / "results" / "incremental"
COMPARED = ("silver/customers", "silver/events", "silver/telemetry", "silver/orders", "silver/order_lines",
            "gold/daily_sales", "gold/cold_chain_daily", "gold/funnel_daily")


def lakehouse(data: Path, *args: str) -> list[str]:
    return [LAKEHOUSE, "--data-dir", str(data), *args]


def last_run(lake: Path) -> pd.DataFrame:
    runs = DeltaTable(str(lake / "ops" / "job_runs")).to_pandas()
    return runs[runs["started_at"] == runs["started_at"].max()]


def last_run_jobs(lake: Path) -> dict[str, float]:
    return {r.job: round(float(r.duration_s), 2) for r in last_run(lake).itertuples() if r.duration_s > 0.05}


def transform_seconds(lake: Path) -> float:
    """Seconds from the first silver or gold job's start to the last one's end, in the last run:
    the transformation of the day (or the rebuild), without the bronze landing both modes share
    and without the process's start. Jobs run side by side, so their seconds do not add up."""
    runs = last_run(lake)
    jobs = runs[runs["job"].str.match(r"^(silver|gold)_") & runs["job_started_at"].notna()]
    ends = jobs["job_started_at"] + pd.to_timedelta(jobs["duration_s"], unit="s")
    return round((ends.max() - jobs["job_started_at"].min()).total_seconds(), 2)


def digest(table: Path) -> tuple[int, int]:
    """A table's rows as (count, sum of one 64-bit hash a row): equal for the same rows in any
    order. Read a batch at a time, so a table larger than memory can be compared (a 120-day
    scale-10 lake has 41 M events; two of them as pandas frames did not fit in 24 GB)."""
    dataset = DeltaTable(str(table)).to_pyarrow_dataset()
    columns = sorted(dataset.schema.names)
    rows, total = 0, 0
    for batch in dataset.to_batches(columns=columns, batch_size=1_000_000):
        hashes = pd.util.hash_pandas_object(batch.to_pandas()[columns], index=False)
        rows += len(hashes)
        total = (total + int(hashes.sum())) % 2**64  # numpy wraps around, as the modulo does
    return rows, total


def same_rows(a: Path, b: Path) -> bool:
    for table in COMPARED:
        x, y = (digest(p / "lake" / table) for p in (a, b))
        if x != y:
            print(f"{table} differs: {x[0]} rows against {y[0]}")
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=10)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    world = OUT / f"world-s{args.scale:g}-d{args.days}"
    generate = ["generate", "--scale", str(args.scale), "--seed", "42"]
    if not (world / "lake" / "gold").is_dir():
        shutil.rmtree(world, ignore_errors=True)
        subprocess.run(lakehouse(world, *generate, "--days", str(args.days)), check=True, capture_output=True)
        first = measured(lakehouse(world, "run"), OUT / "first-build.log")
        print(f"first build: {first.seconds:.1f} s, {first.peak_rss_gb:.2f} GB", flush=True)
    runs: dict[str, Measure] = {}
    jobs: dict[str, dict[str, float]] = {}
    transforms: dict[str, float] = {}
    copies: dict[str, Path] = {}
    for mode in ("incremental", "full"):
        copy = copies[mode] = OUT / f"day-{mode}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(world, copy)
        subprocess.run(lakehouse(copy, *generate, "--days", str(args.days + 1)), check=True, capture_output=True)
        command = lakehouse(copy, "run") + (["--full"] if mode == "full" else [])
        runs[mode] = measured(command, OUT / f"day-{mode}.log")
        jobs[mode] = last_run_jobs(copy / "lake")
        transforms[mode] = transform_seconds(copy / "lake")
        print(mode, f"{runs[mode].seconds:.1f} s", f"{runs[mode].peak_rss_gb:.2f} GB",
              f"silver and gold {transforms[mode]:.1f} s", flush=True)
    result = {
        "scale": args.scale,
        "days": args.days,
        "incremental_s": round(runs["incremental"].seconds, 1),
        "full_s": round(runs["full"].seconds, 1),
        "ratio": round(runs["incremental"].seconds / runs["full"].seconds, 3),
        "incremental_transform_s": transforms["incremental"],
        "full_transform_s": transforms["full"],
        "transform_ratio": round(transforms["incremental"] / transforms["full"], 3),
        "incremental_peak_gb": round(runs["incremental"].peak_rss_gb, 2),
        "full_peak_gb": round(runs["full"].peak_rss_gb, 2),
        "same_rows": same_rows(copies["incremental"], copies["full"]),
        "jobs": pd.DataFrame(jobs).fillna(0).to_dict(orient="index"),
    }
    out = OUT.parent / f"incremental-s{args.scale:g}-d{args.days}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    for copy in copies.values():
        shutil.rmtree(copy, ignore_errors=True)


if __name__ == "__main__":
    main()
