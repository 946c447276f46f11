"""Benchmark: Kafka → bronze.telemetry, sustained throughput and produce-to-commit latency.

    .venv/bin/python -m benchmarks.streaming [--engines embedded spark] [--rate 25000] [--seconds 20]

Per engine (each in its own process: one engine per Python process): a fresh broker and lake, and
the consumer (`stream_telemetry`). Once it is reading, a producer process lands WARM_UP readings
through it as fast as they go (the start-up, reported as `startup_s`), then publishes the IoT swarm
at `--rate` readings/s for `--seconds` while the stream runs. Measured on that second part:
throughput = readings landed / time from the first to the last commit; latency = commit time - the
message's produce timestamp, per message, p50/p95.
Reference in the same process: a bare confluent-kafka consumer reading the same topic from the
start (no parsing, no Delta). Targets: ≥ 20 000 readings/s, p95 ≤ 5 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue
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
WARM_UP = 200_000  # readings landed, as fast as they come, before the measured producer starts


def _publish(bootstrap: str, rate: float, seconds: float | None, limit: int | None, first_day: int, out) -> None:  # noqa: ANN001
    """The swarm in a process of its own: devices are not in the consumer's process (nor its GIL)."""
    from lakehouse.streaming.swarm import publish

    out.put(publish(bootstrap, 200, rate, seconds, limit=limit, first_day=first_day).sent)


def _publish_in_process(bootstrap: str, rate: float, seconds: float | None, limit: int | None, first_day: int) -> int:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_publish, args=(bootstrap, rate, seconds, limit, first_day, out))
    process.start()
    while True:  # a producer that died says so now, not after a timeout
        try:
            sent = out.get(timeout=1)
            break
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(f"the producer process ended with exit code {process.exitcode}") from None
    process.join()
    return int(sent)


def run_one(engine: str, rate: float, seconds: float, batch: int | None = None) -> dict[str, object]:
    from confluent_kafka import Consumer

    from lakehouse.config import load_config
    from lakehouse.engine import get_session
    from lakehouse.storage import Lake
    from lakehouse.streaming import broker
    from lakehouse.streaming.consumer import stream_embedded, stream_spark
    from lakehouse.streaming.landing import TOPIC

    work = Path(tempfile.mkdtemp(prefix=f"bench-stream-{engine}-"))
    kafka = broker.start(work / "kafka")
    try:
        config = load_config(None, overrides={"engine.kind": engine, "data_dir": str(work)}, environ={})
        lake = Lake(get_session(config), config.lake_dir)
        latencies: list[np.ndarray] = []
        commits: list[tuple[float, int]] = []
        warm = threading.Event()  # set once the warm-up readings have landed
        seen = [0]
        startup: list[float] = []

        def on_batch(messages, landed) -> None:  # noqa: ANN001
            if not warm.is_set():
                seen[0] += len(messages)
                if seen[0] >= WARM_UP:
                    warm.set()
                return
            now_ms = time.time() * 1000
            latencies.append(now_ms - np.array([m.timestamp_ms for m in messages], dtype=float))
            commits.append((time.monotonic(), landed.records))

        published: list[int] = []  # the producer is time-bound: on a busy machine it sends fewer

        def produce() -> None:
            # A stream runs all the time. Its start-up (the JVM compiles its hot paths over the first
            # batches) is reported on its own: WARM_UP readings, sent as fast as they go, are landed
            # before the measured producer starts, days later in the swarm's time (no measured
            # reading repeats a warm-up one).
            begin = time.monotonic()
            warm_sent = _publish_in_process(kafka.bootstrap, 1e9, None, WARM_UP, 0)
            warm.wait(600)
            startup.append(time.monotonic() - begin)
            published.append(warm_sent + _publish_in_process(kafka.bootstrap, rate, seconds, None, 10))

        producer = threading.Thread(target=produce)
        if engine == "embedded":
            most = batch or config.kafka.batch_records
            result = stream_embedded(lake, kafka.bootstrap, 5.0, seconds + 420, most, on_batch=on_batch,
                                     on_ready=producer.start)
        else:
            most = batch or config.kafka.spark_batch_records
            result = stream_spark(config, lake, kafka.bootstrap, 5.0, seconds + 420, most, on_batch=on_batch,
                                  on_ready=producer.start)
        producer.join()
        span = commits[-1][0] - commits[0][0] if len(commits) > 1 else 1.0
        landed = sum(n for _, n in commits[1:])  # records committed after the first commit, over that span
        lat = np.concatenate(latencies) / 1000
        start = time.monotonic()
        settings = {"bootstrap.servers": kafka.bootstrap, "group.id": "bench-ref", "auto.offset.reset": "earliest"}
        bare = Consumer(settings)
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
        return {
            "engine": engine,
            "produce_rate": rate,
            "seconds": seconds,
            "startup_s": round(startup[0], 2) if startup else None,
            "published": published[0] if published else None,  # warm-up included, as in the three below
            "landed": result.records,
            "duplicates_dropped": result.duplicates,
            "quarantined": result.quarantined,
            "batches": result.batches,
            "batch_records": most,
            "throughput_per_s": round(landed / span) if span else None,
            "latency_p50_s": round(float(np.percentile(lat, 50)), 2),
            "latency_p95_s": round(float(np.percentile(lat, 95)), 2),
            "bare_consumer_per_s": round(reference),
        }
    finally:  # a failed run leaves no broker behind
        broker.stop(kafka)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", nargs="+", default=["embedded", "spark"])
    parser.add_argument("--rate", type=float, default=25_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch", type=int, help="most readings per micro-batch (default: the config's)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.rate, args.seconds, args.batch)))
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
            *(["--batch", str(args.batch)] if args.batch else []),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        line = [x for x in done.stdout.splitlines() if x.startswith("{")]
        results.append(json.loads(line[-1]) if line else {"engine": engine, "error": done.stderr[-1500:]})
        print(json.dumps(results[-1]), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "streaming.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
