"""`lakehouse iot publish`: a swarm of devices producing readings to `fleet.telemetry`, keyed by
`device_id`, with the same defects as the replay files (the generator's own telemetry: late and
out-of-order readings, impossible values, repeated readings, malformed lines)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import orjson
from confluent_kafka import Producer

from lakehouse.generate.model import Clock
from lakehouse.generate.telemetry import day_lines

log = logging.getLogger(__name__)
TOPIC = "fleet.telemetry"
FLUSH_SECONDS = 30.0  # after the last reading, how long the broker may take to acknowledge the rest


class PublishError(RuntimeError):
    """Readings the broker did not acknowledge."""


@dataclass(frozen=True)
class PublishResult:
    sent: int
    seconds: float
    lines: tuple[str, ...] = ()  # what was produced, in order (kept for tests and benchmarks when asked)

    def describe(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return f"produced {self.sent:,} readings to {TOPIC} in {self.seconds:.1f} s ({rate:,.0f}/s)"


def devices(count: int) -> tuple[str, ...]:
    """Vans and warehouse sensors, named like the replay files' devices."""
    warehouses = max(1, count // 10)
    return tuple(
        [f"wh-{i + 1:02d}" for i in range(warehouses)] + [f"van-{i + 1:03d}" for i in range(count - warehouses)]
    )


def readings(count: int, seed: int, start: dt.date, first_day: int = 0) -> Iterator[str]:
    """The swarm's lines, day after day from `first_day`, in arrival order (late ones at the end of
    their day); `seq` keeps counting across days, so a later run continues the same devices."""
    clock, swarm, day = Clock(start), devices(count), first_day
    while True:
        on_time, late = day_lines(seed, day, clock, swarm)
        yield from on_time
        yield from late
        day += 1


def _key(line: str) -> bytes | None:
    try:
        value = orjson.loads(line)
        return str(value.get("device_id")).encode() if isinstance(value, dict) else None
    except orjson.JSONDecodeError:
        return None


def publish(
    bootstrap: str,
    count: int,
    rate: float,
    duration: float | None = None,
    limit: int | None = None,
    seed: int = 42,
    start: dt.date = dt.date(2026, 1, 1),
    keep: bool = False,
    first_day: int = 0,
    settings: Mapping[str, object] | None = None,
) -> PublishResult:
    """Produce at `rate` readings per second until `duration` seconds or `limit` readings, each one
    acknowledged by the broker (`PublishError` names how many were not). When the producer's local
    queue is full (the broker takes them slower than `rate`), it waits for room instead of dropping
    a reading, until the `duration` is over. `settings`: more librdkafka settings for the producer
    (not the broker's address nor the delivery reports, which this function owns)."""
    failures: list[str] = []

    def report(error, message) -> None:  # noqa: ANN001 - confluent-kafka's KafkaError and Message
        if error is not None:
            failures.append(error.str())

    producer = Producer({"linger.ms": 20, "enable.idempotence": True, "log_level": 3, **(settings or {}),
                         "bootstrap.servers": bootstrap, "on_delivery": report, "delivery.report.only.error": True})
    begin, sent, kept = time.monotonic(), 0, []
    deadline = None if duration is None else begin + duration
    for line in readings(count, seed, start, first_day):
        now = time.monotonic()
        if (deadline is not None and now >= deadline) or (limit is not None and sent >= limit):
            break
        ahead = sent / rate - (now - begin)
        if ahead > 0:
            time.sleep(ahead)
        if not _produce(producer, line, deadline):
            break
        sent += 1
        if keep:
            kept.append(line)
    unsent = producer.flush(FLUSH_SECONDS)
    if unsent or failures:
        reasons = "; ".join(sorted(set(failures))[:3]) or f"not acknowledged within {FLUSH_SECONDS:g} s"
        raise PublishError(f"{unsent + len(failures):,} of {sent:,} readings were not delivered to {TOPIC} at "
                           f"{bootstrap}: {reasons}")
    return PublishResult(sent, time.monotonic() - begin, tuple(kept))


def _produce(producer: Producer, line: str, deadline: float | None) -> bool:
    """Queue one reading; while the local queue is full, serve delivery reports until there is room.
    False when the `deadline` (monotonic seconds) passed first: the reading was not queued."""
    value, key = line.encode(), _key(line)
    while True:
        try:
            producer.produce(TOPIC, value=value, key=key)
        except BufferError:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            producer.poll(0.05)
        else:
            producer.poll(0)
            return True
