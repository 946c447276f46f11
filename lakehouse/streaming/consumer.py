"""`lakehouse stream telemetry`: fleet.telemetry → bronze.telemetry in micro-batches, exactly once.

- Embedded engine (Sail has no streaming sinks): a confluent-kafka consumer assigned to every
  partition from the offsets landed in the table, landing each batch through the storage layer.
- Apache Spark: one Structured Streaming query on the Kafka source with a checkpoint under
  `<data_dir>/checkpoints/telemetry`, each micro-batch landed by the same code (`foreachBatch`).
Both stop after `until_idle` seconds without new messages or after `max_seconds`, and on SIGTERM
finish the batch in hand and exit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.storage import Lake
from lakehouse.streaming.landing import TOPIC, Landed, Message, StreamState, land, load_state

log = logging.getLogger(__name__)
PARTITIONS = 2


@dataclass
class StreamResult:
    batches: int = 0
    records: int = 0
    duplicates: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    stopped_by: str = "idle"

    def add(self, landed: Landed) -> None:
        self.batches += 1
        self.records += landed.records
        self.duplicates += landed.duplicates
        self.quarantined += landed.quarantined

    def describe(self) -> str:
        return (
            f"landed {self.records:,} readings in {self.batches} batch(es) into bronze.telemetry "
            f"({self.duplicates:,} repeated readings dropped, {self.quarantined:,} unparseable to bronze.quarantine; "
            f"stopped: {self.stopped_by}, {self.seconds:.1f} s)"
        )


@contextlib.contextmanager
def sigterm_stops() -> Iterator[threading.Event]:
    """An event set by SIGTERM (the batch in hand is finished first), restored afterwards."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def ensure_topic(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    if TOPIC not in admin.list_topics(timeout=10).topics:
        futures = admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
        with contextlib.suppress(Exception):  # created meanwhile by a producer: fine
            futures[TOPIC].result(10)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class _Clock:
    """When a stream stops: SIGTERM, `until_idle` seconds without data (once the consumer is
    ready), or `max_seconds` after it began. Both consumers, the embedded poll loop and Spark's
    watcher of its streaming query, stop by it."""

    until_idle: float
    max_seconds: float | None
    begin: float = field(default_factory=time.monotonic)
    last_data: float = 0.0
    ready: bool = True

    def __post_init__(self) -> None:
        self.last_data = self.begin

    def data_now(self) -> None:
        self.last_data = max(self.last_data, time.monotonic())

    def stop_reason(self, stop: threading.Event) -> str | None:
        """Why to stop now (`StreamResult.stopped_by`), None to go on."""
        now = time.monotonic()
        if stop.is_set():
            return "SIGTERM"
        if self.ready and now - self.last_data >= self.until_idle:
            return "idle"
        if self.max_seconds is not None and now - self.begin >= self.max_seconds:
            return "max-seconds"
        return None


def stream_embedded(
    lake: Lake,
    bootstrap: str,
    until_idle: float,
    max_seconds: float | None,
    batch_records: int,
    on_batch: Callable[[list[Message], Landed], None] = lambda messages, landed: None,
    on_ready: Callable[[], None] = lambda: None,
) -> StreamResult:
    ensure_topic(bootstrap)
    state = load_state(lake)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "lakehouse-telemetry", "enable.auto.commit": False, "log_level": 3}
    )
    partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    consumer.assign(
        [TopicPartition(TOPIC, p, state.offsets[p] + 1 if p in state.offsets else OFFSET_BEGINNING) for p in partitions]
    )
    result, clock = StreamResult(), _Clock(until_idle, max_seconds)
    on_ready()
    with sigterm_stops() as stop:
        try:
            reason = None
            while reason is None:  # one poll at least, then as long as nothing says stop
                polled = consumer.consume(num_messages=batch_records, timeout=0.5)
                messages = [
                    Message(int(m.partition() or 0), int(m.offset() or 0), m.value(), m.timestamp()[1])
                    for m in polled
                    if m.error() is None
                ]
                if messages:
                    landed = land(lake, messages, state, _now())
                    result.add(landed)
                    on_batch(messages, landed)
                    clock.data_now()
                reason = clock.stop_reason(stop)
            result.stopped_by = reason
        finally:
            consumer.close()
    result.seconds = time.monotonic() - clock.begin
    return result


def stream_spark(
    config: Config,
    lake: Lake,
    bootstrap: str,
    until_idle: float,
    max_seconds: float | None,
    batch_records: int,
    on_batch: Callable[[list[Message], Landed], None] = lambda messages, landed: None,
    on_ready: Callable[[], None] = lambda: None,
) -> StreamResult:
    """One long-running Structured Streaming query (a query per poll would cost a JVM start-up
    of about 2 s each); the driver watches it and stops it between micro-batches."""
    ensure_topic(bootstrap)
    state = load_state(lake)
    result, clock = StreamResult(), _Clock(until_idle, max_seconds, ready=False)
    checkpoint = (config.data_dir / "checkpoints" / "telemetry").resolve()
    starting = {TOPIC: {str(p): o + 1 for p, o in state.offsets.items()}} if state.offsets else "earliest"
    source = (
        lake.spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", TOPIC)
        .option("startingOffsets", starting if isinstance(starting, str) else json.dumps(starting))
        .option("maxOffsetsPerTrigger", batch_records)
        .option("failOnDataLoss", "false")
        .load()
    )
    each_batch = _batch_lander(lake, state, result, clock, on_batch)
    writer = source.writeStream.foreachBatch(each_batch).option("checkpointLocation", str(checkpoint))
    query = writer.trigger(processingTime="200 milliseconds").start()
    with sigterm_stops() as stop:
        try:
            if (reason := _watch(query, clock, stop, on_ready)) is not None:
                result.stopped_by = reason
        finally:
            _stop_between_batches(query)
    result.seconds = time.monotonic() - clock.begin
    return result


def _batch_lander(
    lake: Lake, state: StreamState, result: StreamResult, clock: _Clock,
    on_batch: Callable[[list[Message], Landed], None],
) -> Callable[[Any, int], None]:
    """What the query does with each micro-batch: its Kafka records landed in bronze (`land`)."""

    def each_batch(frame, batch_id: int) -> None:  # noqa: ANN001 - a DataFrame of Kafka records
        started = time.monotonic()
        # values as text: Arrow hands Python str objects, no bytes copy per message
        value = F.col("value").cast("string").alias("value")
        rows = frame.select("partition", "offset", value, F.unix_millis("timestamp").alias("ms")).toPandas()
        read = time.monotonic()
        columns = (rows["partition"].tolist(), rows["offset"].tolist(), rows["value"].tolist(), rows["ms"].tolist())
        messages = [Message(p, o, v, ms) for p, o, v, ms in zip(*columns, strict=True)]
        if messages:
            landed = land(lake, messages, state, _now())
            result.add(landed)
            on_batch(messages, landed)
            clock.data_now()
            log.debug("batch %s: %d messages read in %.2f s, landed in %.2f s", batch_id, len(messages),
                      read - started, time.monotonic() - read)

    return each_batch


def _watch(query, clock: _Clock, stop: threading.Event, on_ready: Callable[[], None]) -> str | None:  # noqa: ANN001
    """Watch the running `query` until `clock` says why to stop (or the query ends: None)."""
    # seconds; PySpark takes a float (it passes milliseconds on), its stub says int
    while not query.awaitTermination(0.2):  # type: ignore[arg-type]
        status = query.status
        if not clock.ready and _waiting(status):  # the idle clock starts once the query is up
            clock.ready = True
            clock.data_now()
            on_ready()
        if status["isDataAvailable"]:  # a batch with data in hand: landing it is not idling
            clock.data_now()
        if (reason := clock.stop_reason(stop)) is not None:
            return reason
    return None


def _waiting(status: dict) -> bool:
    """The query is up and waiting for data (its `status`)."""
    return not status["isTriggerActive"] and str(status["message"]).startswith("Waiting")


def _stop_between_batches(query, timeout: float = 120.0) -> None:  # noqa: ANN001 - a StreamingQuery
    """Let the micro-batch in hand finish, then stop. A batch cut short anyway (timeout, or a new
    trigger starting in between) is not in the checkpoint's commit log: the next start re-reads it
    and the landing skips what was already committed."""
    deadline = time.monotonic() + timeout
    while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.05)
    query.stop()


def stream_telemetry(
    config: Config, lake: Lake, bootstrap: str, until_idle: float = 5.0, max_seconds: float | None = None
) -> StreamResult:
    """Stream until idle / max seconds / SIGTERM, on the session's engine."""
    if not lake.profile.structured_streaming:  # the engine has no streaming sinks: poll Kafka here
        return stream_embedded(lake, bootstrap, until_idle, max_seconds, config.kafka.batch_records)
    return stream_spark(config, lake, bootstrap, until_idle, max_seconds, config.kafka.spark_batch_records)
