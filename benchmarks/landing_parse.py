"""Benchmark: parsing landed JSON lines into bronze's Arrow rows, columnar against line by line.

    .venv/bin/python -m benchmarks.landing_parse [--scale 1] [--files 40] [--repeat 7]

On the clickstream and telemetry files of a generated world (bad lines included, as the generator
lands them), in this one process: `parse_json_table` + `with_constants` (Arrow's reader in blocks,
the lines it cannot vouch for line by line; what bronze runs) against `parse_json_lines` +
`records_table` (every line through orjson and the field rules, then `Table.from_pylist`; what it
ran before), and the same files with their bad lines removed. CPU seconds of this process (both
run in its one thread), best of `--repeat` rounds, the two alternating, so that other work on the
machine counts as little as it can. Engine-free: no session, no lake.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from benchmarks.pipeline import ROOT, generate
from lakehouse.arrowio import arrow_schema
from lakehouse.bronze import events, jsonl, telemetry
from lakehouse.bronze.records import parse_json_lines, records_table, with_constants

OUT = ROOT / "benchmarks" / "results"
CONSTANTS = {"_file_date": "2026-01-01", "_ingested_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
             "_source": "f.jsonl", "_batch_id": "b"}


def _columnar(table, content: bytes) -> pa.Table:  # noqa: ANN001 - a bronze table module
    parsed, _ = jsonl.parse_json_table(content, table.FIELDS, table.SOURCE, "f.jsonl")
    return with_constants(parsed, arrow_schema(table.SCHEMA), CONSTANTS)


def _by_line(table, content: bytes) -> pa.Table:  # noqa: ANN001
    records, _ = parse_json_lines(content, table.FIELDS, table.SOURCE, "f.jsonl")
    return records_table(records, arrow_schema(table.SCHEMA), CONSTANTS)


def _clean(table, content: bytes) -> bytes:  # noqa: ANN001
    lines = [line for line in content.split(b"\n") if line and parse_json_lines(line, table.FIELDS, "s", "o")[0]]
    return b"\n".join(lines) + b"\n"


def _timed(parse: Callable[[object, bytes], pa.Table], table, files: list[bytes]) -> float:  # noqa: ANN001
    started = time.process_time()  # CPU seconds of this process: both parses run in this one thread
    for content in files:
        parse(table, content)
    return time.process_time() - started


def measure(sources: Path, count: int, repeat: int) -> list[dict[str, object]]:
    rows = []
    for table, folder in ((events, "clickstream"), (telemetry, "telemetry")):
        files = [p.read_bytes() for p in sorted((sources / folder).rglob("*.jsonl"))[:count]]
        for kind, data in (("as landed", files), ("bad lines removed", [_clean(table, f) for f in files])):
            megabytes = sum(map(len, data)) / 1e6
            lines = sum(f.count(b"\n") for f in data)
            timings = {"by line": float("inf"), "columnar": float("inf")}
            for _ in range(repeat):  # alternating, one round each
                timings["by line"] = min(timings["by line"], _timed(_by_line, table, data))
                timings["columnar"] = min(timings["columnar"], _timed(_columnar, table, data))
            rows.append({"table": table.TABLE, "files": kind, "count": len(data), "lines": lines,
                         "mb": round(megabytes, 1),
                         "by_line_s": round(timings["by line"], 3), "columnar_s": round(timings["columnar"], 3),
                         "ratio": round(timings["columnar"] / timings["by line"], 2),
                         "columnar_mb_s": round(megabytes / timings["columnar"], 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--files", type=int, default=40, help="files of each source")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sources = OUT / f"data-s{args.scale:g}" / "sources"
    if not sources.exists():
        sources, _ = generate(args.scale, args.days, OUT)
    rows = measure(sources, args.files, args.repeat)
    print("| table | files | lines | MB | line by line s | columnar s | columnar / line by line | columnar MB/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['table']} | {r['files']} | {r['lines']:,} | {r['mb']} | {r['by_line_s']} | {r['columnar_s']} "
              f"| {r['ratio']} | {r['columnar_mb_s']} |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"landing-parse-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
