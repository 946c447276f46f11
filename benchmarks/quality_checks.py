"""Benchmark: each table's suite through Great Expectations against `lakehouse.quality.native`.

    .venv/bin/python -m benchmarks.quality_checks --data-dir DIR [--engine embedded|spark] [--repeat 3]

DIR holds a lake a `lakehouse run` built. Every silver and gold table is read as the gate reads its
staged result, and its suite (key checks plus the spec's expectations) runs on it both ways, in this
process, alternately, `repeat` times; the median of each is kept. Great Expectations' import and its
first context are timed once, apart. The outcomes of both are compared (they must be equal).
Results: benchmarks/incremental.md (2026-12-07).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from lakehouse.config import load_config
from lakehouse.engine import get_session
from lakehouse.jobs import JOBS
from lakehouse.quality import native
from lakehouse.quality.suites import suite_checks, suite_for
from lakehouse.storage import Lake

OUT = Path(__file__).resolve().parent / "results"


def _timed(action) -> tuple[float, object]:  # noqa: ANN001
    start = time.perf_counter()
    found = action()
    return time.perf_counter() - start, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--engine", default="embedded")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = load_config("local", overrides={"engine.kind": args.engine, "data_dir": str(args.data_dir)})
    lake = Lake(get_session(config), config.lake_dir)
    imported, _ = _timed(lambda: __import__("lakehouse.quality.expectations"))
    from lakehouse.quality.expectations import ExpectationRunner

    runner = ExpectationRunner(OUT / "quality-checks-gx")
    specs = [j.spec for j in JOBS.values() if j.spec is not None and j.layer in ("silver", "gold")]
    first, _ = _timed(lambda: runner.validate(suite_for(specs[0]), lake.read(specs[0].name), "warm-up"))
    rows = []
    for spec in specs:
        frame, checks = lake.read(spec.name), suite_checks(spec)
        gx_s, native_s = [], []
        for i in range(args.repeat):
            spent, gx_results = _timed(lambda: runner.validate(suite_for(spec), frame, f"r{i}"))  # noqa: B023
            gx_s.append(spent)
            spent, outcomes = _timed(lambda: native.evaluate(checks, frame))  # noqa: B023
            native_s.append(spent)
        same = sorted(map(repr, gx_results)) == sorted(repr(o.to_check(spec.name)) for o in outcomes)  # type: ignore[attr-defined]
        rows.append({"table": spec.name, "rows": frame.count(), "checks": len(checks), "same": same,
                     "gx_s": round(statistics.median(gx_s), 3), "native_s": round(statistics.median(native_s), 3)})
        print(json.dumps(rows[-1]), flush=True)
    runner.discard()
    summary = {"engine": args.engine, "import_s": round(imported, 2), "first_validation_s": round(first, 2),
               "gx_total_s": round(sum(r["gx_s"] for r in rows), 2),
               "native_total_s": round(sum(r["native_s"] for r in rows), 2), "tables": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"quality-checks-{args.engine}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "tables"}))


if __name__ == "__main__":
    main()
