"""Benchmark: Kafka → bronze.telemetry, sustained throughput and produce-to-commit latency.

    .venv/bin/python -m benchmarks.streaming [--engines embedded spark] [--rate 25000] [--seconds 20]

Per engine (each in its own process: one engine per Python process): a fresh broker and lake, a
producer thread publishing the IoT swarm at `--rate` readings/s for `--seconds`, and the consumer
(`stream_telemetry`) running at the same time. Throughput = readings landed / time from the first
to the last commit; latency = commit time - the message's produce timestamp, per message, p50/p95.
Reference in the same process: a bare confluent-kafka consumer reading the same topic from the
start (no parsing, no Delta). Targets: ≥ 20 000 readings/s, p95 ≤ 5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.pipeline import ROOT

OUT = ROOT / "benchmarks" / "results"


def run_one(engine: str, rate: float, seconds: float) -> dict[str, object]:
    from confluent_kafka import Consumer

    from lakehouse.config import load_config
    from lakehouse.engine import get_session
    from lakehouse.storage import Lake
    from lakehouse.streaming import broker
    from lakehouse.streaming.consumer import stream_embedded, stream_spark
    from lakehouse.streaming.landing import TOPIC
    from lakehouse.streaming.swarm import publish

    work = Path(tempfile.mkdtemp(prefix=f"bench-stream-{engine}-"))
    kafka = broker.start(work / "kafka")
    config = load_config(None, overrides={"engine.kind": engine, "data_dir": str(work)}, environ={})
    lake = Lake(get_session(config), config.lake_dir)
    latencies: list[np.ndarray] = []
    commits: list[tuple[float, int]] = []

    def on_batch(messages, landed) -> None:  # noqa: ANN001
        now_ms = time.time() * 1000
        latencies.append(now_ms - np.array([m.timestamp_ms for m in messages], dtype=float))
        commits.append((time.monotonic(), landed.records))

    published: list[int] = []  # the producer is time-bound: on a busy machine it sends fewer
    producer = threading.Thread(
        target=lambda: published.append(publish(kafka.bootstrap, 200, rate, seconds).sent))
    producer.start()
    if engine == "embedded":
        batch = config.kafka.batch_records
        result = stream_embedded(lake, kafka.bootstrap, 5.0, seconds + 120, batch, on_batch=on_batch)
    else:
        batch = config.kafka.spark_batch_records
        result = stream_spark(config, lake, kafka.bootstrap, 5.0, seconds + 120, batch, on_batch=on_batch)
    producer.join()
    span = commits[-1][0] - commits[0][0] if len(commits) > 1 else 1.0
    landed = sum(n for _, n in commits[1:])  # records committed after the first commit, over that span
    lat = np.concatenate(latencies) / 1000
    start = time.monotonic()
    bare = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "bench-ref", "auto.offset.reset": "earliest"})
    bare.subscribe([TOPIC])
    read, idle, first = 0, time.monotonic(), None
    # the clock starts at the first message: joining the group can take seconds on a busy machine
    while (first is None and time.monotonic() - start < 60) or time.monotonic() - idle < 3:
        batch = bare.consume(num_messages=50_000, timeout=0.5)
        if batch:
            first = first or time.monotonic()
            read += len(batch)
            idle = time.monotonic()
    bare.close()
    reference = read / max(idle - first, 1e-3) if first else 0.0
    broker.stop(kafka)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "engine": engine,
        "produce_rate": rate,
        "seconds": seconds,
        "published": published[0] if published else None,
        "landed": result.records,
        "duplicates_dropped": result.duplicates,
        "quarantined": result.quarantined,
        "batches": result.batches,
        "throughput_per_s": round(landed / span) if span else None,
        "latency_p50_s": round(float(np.percentile(lat, 50)), 2),
        "latency_p95_s": round(float(np.percentile(lat, 95)), 2),
        "bare_consumer_per_s": round(reference),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", nargs="+", default=["embedded", "spark"])
    parser.add_argument("--rate", type=float, default=25_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.rate, args.seconds)))
        return
    results = []
    for engine in args.engines:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.streaming",
            "--one",
            engine,
            "--rate",
            str(args.rate),
            "--seconds",
            str(args.seconds),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        line = [x for x in done.stdout.splitlines() if x.startswith("{")]
        results.append(json.loads(line[-1]) if line else {"engine": engine, "error": done.stderr[-1500:]})
        print(json.dumps(results[-1]), flush=True)
    (OUT / "streaming.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
