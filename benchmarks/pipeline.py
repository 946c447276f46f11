"""Benchmark: the full pipeline (generation excluded) per engine, against a DuckDB reference.

    .venv/bin/python benchmarks/pipeline.py [--scales 1 10] [--engines embedded spark] [--repeat 1]
                                            [--baseline GIT_REF]

For each scale the world is generated once (timed apart). Each engine then runs `lakehouse run`
on a fresh lake over the same sources, as a separate process whose whole process tree is sampled
for memory (the JVM is a child of the Python driver; Sail runs inside it). The DuckDB reference
runs the same silver/gold SQL over the same bronze tables (`benchmarks/duckdb_reference.py`), and
reads the sources once for an ingestion figure. Results go to benchmarks/results/ as JSON and a
markdown table. Nothing here is asserted: targets are read off the table.

`--baseline REF` also runs the embedded pipeline with the code of another commit (checked out into
a temporary work tree and put first on `PYTHONPATH`), alternating with the current code over the
same sources, so that a change's cost is a ratio measured in one run on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from deltalake import DeltaTable

ROOT = Path(__file__).resolve().parent.parent
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


@dataclass
class Measure:
    seconds: float
    peak_rss_gb: float
    detail: dict[str, float] = field(default_factory=dict)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def measured(cmd: list[str], log: Path, code_root: Path = ROOT) -> Measure:
    """Run `cmd` with the library of `code_root`, sampling the RSS of its whole process tree every 0.1 s."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(code_root)} if code_root != ROOT else None
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=code_root, env=env)
        handle, peak = psutil.Process(proc.pid), [0]

        def sample() -> None:
            while proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    peak[0] = max(peak[0], _tree_rss(handle))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        sampler.join()
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {code}; see {log}")
    return Measure(time.perf_counter() - start, peak[0] / 1e9)


def generate(scale: float, days: int, out: Path) -> tuple[Path, float]:
    data = out / f"data-s{scale:g}"
    start = time.perf_counter()
    cmd = [LAKEHOUSE, "--data-dir", str(data), "generate", "--scale", str(scale), "--days", str(days), "--seed", "42"]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return data / "sources", time.perf_counter() - start


def job_split(lake: Path) -> dict[str, float]:
    """Seconds per layer from ops.job_runs of the (single) run in this lake."""
    runs = DeltaTable(str(lake / "ops" / "job_runs")).to_pandas()
    layer = runs["job"].str.split("_").str[0]
    return {name: round(float(seconds), 2) for name, seconds in runs.groupby(layer)["duration_s"].sum().items()}


def run_engine(engine: str, sources: Path, out: Path, scale: float, code_root: Path = ROOT, label: str = "") -> Measure:
    name = f"run-s{scale:g}-{label or engine}"
    data = out / name
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    (data / "sources").symlink_to(sources)
    cmd = [LAKEHOUSE, "--engine", engine, "--data-dir", str(data), "run"]
    result = measured(cmd, out / f"{name}.log", code_root)
    result.detail = job_split(data / "lake")
    return result


def run_duckdb(phase: str, sources: Path, lake: Path, out: Path, scale: float) -> Measure:
    target = out / f"duckdb-s{scale:g}-{phase}"
    shutil.rmtree(target, ignore_errors=True)
    source = lake if phase == "transform" else sources
    cmd = [sys.executable, "-m", "benchmarks.duckdb_reference", phase, str(source), str(target)]
    return measured(cmd, out / f"duckdb-s{scale:g}-{phase}.log")


def median(measures: list[Measure]) -> Measure:
    best = sorted(measures, key=lambda m: m.seconds)[len(measures) // 2]
    return Measure(statistics.median(m.seconds for m in measures), max(m.peak_rss_gb for m in measures), best.detail)


@contextlib.contextmanager
def checked_out(ref: str) -> Iterator[Path]:
    """The tree of commit `ref` in a temporary work tree."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lakehouse-baseline-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], check=True, cwd=ROOT,
                       capture_output=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


def against_baseline(scale: float, days: int, repeat: int, baseline: Path, out: Path) -> dict[str, object]:
    """The embedded pipeline with the current code and with `baseline`'s, alternately, same sources."""
    sources, _ = generate(scale, days, out)
    current, before = [], []
    for _ in range(repeat):
        before.append(run_engine("embedded", sources, out, scale, baseline, "baseline"))
        current.append(run_engine("embedded", sources, out, scale))
    row: dict[str, object] = {"scale": scale, "days": days, "baseline": asdict(median(before)),
                              "embedded": asdict(median(current))}
    return row


def baseline_table(rows: list[dict], ref: str) -> str:
    lines = [f"| scale | layer | {ref} s | this tree s | ratio |", "|---|---|---|---|---|"]
    for row in rows:
        old, new = row["baseline"], row["embedded"]
        for layer in ("bronze", "silver", "gold"):
            a, b = old["detail"].get(layer, 0), new["detail"].get(layer, 0)
            lines.append(f"| {row['scale']:g} | {layer} | {a:.2f} | {b:.2f} | {b / a:.2f} |" if a else "")
        lines.append(f"| {row['scale']:g} | pipeline | {old['seconds']:.2f} | {new['seconds']:.2f} | "
                     f"{new['seconds'] / old['seconds']:.2f} |")
    return "\n".join(line for line in lines if line)


def bench_scale(scale: float, engines: list[str], repeat: int, days: int, out: Path) -> dict[str, object]:
    sources, gen_seconds = generate(scale, days, out)
    row: dict[str, object] = {"scale": scale, "days": days, "generate_seconds": round(gen_seconds, 2)}
    for engine in engines:
        row[engine] = asdict(median([run_engine(engine, sources, out, scale) for _ in range(repeat)]))
        print(f"scale {scale:g} {engine}: {row[engine]}", flush=True)
    lake = out / f"run-s{scale:g}-{engines[0]}" / "lake"
    for phase in ("ingest", "transform"):
        row[f"duckdb_{phase}"] = asdict(median([run_duckdb(phase, sources, lake, out, scale) for _ in range(repeat)]))
        print(f"scale {scale:g} duckdb {phase}: {row[f'duckdb_{phase}']}", flush=True)
    return row


def _cell(row: dict, key: str, attr: str) -> float | None:
    value = row.get(key)
    return value[attr] if isinstance(value, dict) else None


def markdown(rows: list[dict]) -> str:
    lines = [
        "| scale | engine | pipeline s | bronze s | silver s | gold s | peak RSS GB |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for engine in ("embedded", "spark"):
            m = row.get(engine)
            if isinstance(m, dict):
                d = m["detail"]
                lines.append(
                    f"| {row['scale']:g} | {engine} | {m['seconds']:.1f} | {d.get('bronze', 0):.1f} | "
                    f"{d.get('silver', 0):.1f} | {d.get('gold', 0):.1f} | {m['peak_rss_gb']:.2f} |"
                )
        ingest, transform = _cell(row, "duckdb_ingest", "seconds"), _cell(row, "duckdb_transform", "seconds")
        if ingest is not None and transform is not None:
            peaks = (_cell(row, "duckdb_ingest", "peak_rss_gb"), _cell(row, "duckdb_transform", "peak_rss_gb"))
            peak = max(p or 0 for p in peaks)
            lines.append(
                f"| {row['scale']:g} | duckdb reference | {ingest + transform:.1f} | {ingest:.1f} | "
                f"{transform:.1f} (silver+gold) | | {peak:.2f} |"
            )
    return "\n".join(lines)


def ratios(rows: list[dict]) -> str:
    lines = ["| scale | Spark / Sail (pipeline) | Sail / DuckDB (pipeline) | Sail / DuckDB (silver+gold) |",
             "|---|---|---|---|"]
    for row in rows:
        sail, spark = _cell(row, "embedded", "seconds"), _cell(row, "spark", "seconds")
        ingest, transform = _cell(row, "duckdb_ingest", "seconds"), _cell(row, "duckdb_transform", "seconds")
        detail = row["embedded"]["detail"] if isinstance(row.get("embedded"), dict) else {}
        sail_transform = detail.get("silver", 0) + detail.get("gold", 0)
        cells = [
            f"{spark / sail:.1f}x" if sail and spark else "n/a",
            f"{sail / (ingest + transform):.1f}x" if sail and ingest and transform else "n/a",
            f"{sail_transform / transform:.1f}x" if transform and sail_transform else "n/a",
        ]
        lines.append(f"| {row['scale']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0])
    parser.add_argument("--engines", nargs="+", default=["embedded", "spark"], choices=["embedded", "spark"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--baseline", metavar="GIT_REF", help="compare the embedded pipeline with this commit's")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.baseline:
        with checked_out(args.baseline) as tree:
            rows = [against_baseline(s, args.days, args.repeat, tree, args.out) for s in args.scales]
        print(baseline_table(rows, args.baseline))
        return
    rows = [bench_scale(scale, args.engines, args.repeat, args.days, args.out) for scale in args.scales]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    (args.out / f"pipeline-{stamp}.json").write_text(json.dumps(rows, indent=2))
    print("\n" + markdown(rows) + "\n\n" + ratios(rows))


if __name__ == "__main__":
    main()
