"""IoT telemetry through a real Kafka broker into bronze.telemetry, exactly once, on this run's
engine: one broker and one lake for the module, scenarios in order, each checking that the table
holds every valid reading produced so far exactly once (the expected set comes from what the test
produced, parsed independently)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from lakehouse.config import Config
from lakehouse.s3server import S3Server
from lakehouse.storage import Lake
from lakehouse.streaming import broker
from lakehouse.streaming.consumer import stream_telemetry
from lakehouse.streaming.swarm import publish
from tests.integration import lakes

pytestmark = pytest.mark.integration
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
PRODUCED: list[str] = []
DAY = [0]


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    started = broker.start(tmp_path_factory.mktemp("kafka"))
    yield started
    broker.stop(started)


def _base_config(engine: str, data_dir: Path) -> Config:
    from lakehouse.config import load_config

    return load_config("test", overrides={"engine.kind": engine, "data_dir": str(data_dir)}, environ={})


@pytest.fixture(scope="module")
def lake_config(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Config:
    return _base_config(engine, tmp_path_factory.mktemp("stream"))


def _produce(kafka: broker.Broker, count: int) -> None:
    """`count` readings from the next simulated days (a run never repeats an earlier one's days)."""
    result = publish(kafka.bootstrap, 12, rate=50_000, limit=count, keep=True, first_day=DAY[0])
    DAY[0] += count // (12 * 288) + 1
    PRODUCED.extend(result.lines)


def _expected() -> tuple[set[tuple[str, int]], int]:
    keys, bad = set(), 0
    for line in PRODUCED:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("device_id"), str) and isinstance(value.get("seq"), int):
            keys.add((value["device_id"], value["seq"]))
        else:
            bad += 1
    return keys, bad


def _landed(config: Config) -> list[tuple[str, int]]:
    frame = lakes.table(config.lake / "bronze" / "telemetry").to_pandas(columns=["device_id", "seq", "_source"])
    return list(zip(frame["device_id"], frame["seq"].astype(int), strict=True))


def _check(config: Config) -> None:
    landed = _landed(config)
    keys, _ = _expected()
    assert len(landed) == len(set(landed)), "a reading landed twice"
    assert set(landed) == keys, f"missing {len(keys - set(landed))}, extra {len(set(landed) - keys)}"


def _stream(spark, config: Config, kafka: broker.Broker, idle: float = 2.0):  # noqa: ANN001, ANN202
    lake = Lake(spark, config.lake)
    return stream_telemetry(config, lake, kafka.bootstrap, until_idle=idle, max_seconds=180)


def _cli(config: Config, kafka: broker.Broker, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARK_")} | {
        "LAKEHOUSE_KAFKA_BOOTSTRAP": kafka.bootstrap}
    cmd = [LAKEHOUSE, "--env", "test", "--engine", config.engine.kind, "--data-dir", str(config.data_dir), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_new_rows(config: Config, before: int, process: subprocess.Popen[str], timeout: float = 240) -> None:
    path = config.lake_dir / "bronze" / "telemetry"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and (path / "_delta_log").exists():
            try:
                if DeltaTable(str(path)).version() > before:
                    return
            except Exception:  # noqa: BLE001 - the first commit may be in progress
                pass
        time.sleep(0.05)
    raise AssertionError("the consumer landed nothing in time")


def _version(config: Config) -> int:
    path = config.lake_dir / "bronze" / "telemetry"
    return DeltaTable(str(path)).version() if (path / "_delta_log").exists() else -1


def test_every_reading_lands_once_and_bad_values_are_quarantined(spark, kafka, lake_config: Config) -> None:
    _produce(kafka, 4000)
    result = _stream(spark, lake_config, kafka)
    _check(lake_config)
    keys, bad = _expected()
    assert result.records == len(keys) and result.quarantined == bad > 0
    quarantine = DeltaTable(str(lake_config.lake_dir / "bronze" / "quarantine")).to_pandas()
    assert quarantine["_source"].str.fullmatch(r"fleet\.telemetry/\d+/\d+").sum() == bad


def test_a_producer_faster_than_its_queue_waits_for_room_and_loses_nothing(spark, kafka, lake_config) -> None:
    # a local queue of 200 messages, filled as fast as Python goes: librdkafka refuses the 201st
    result = publish(kafka.bootstrap, 12, rate=1e9, limit=20_000, keep=True, first_day=DAY[0],
                     settings={"queue.buffering.max.messages": 200})
    DAY[0] += 20_000 // (12 * 288) + 1
    PRODUCED.extend(result.lines)
    assert result.sent == len(result.lines) == 20_000
    _stream(spark, lake_config, kafka)
    _check(lake_config)


def test_a_consumer_killed_mid_way_and_restarted_loses_and_doubles_nothing(spark, kafka, lake_config) -> None:
    _produce(kafka, 30_000)
    before = _version(lake_config)
    process = _cli(lake_config, kafka, "stream", "telemetry", "--until-idle", "30")
    _wait_for_new_rows(lake_config, before, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    _produce(kafka, 3000)  # produced while the consumer is down
    _stream(spark, lake_config, kafka)
    _check(lake_config)


def test_a_broker_crash_and_restart_loses_nothing(spark, kafka, lake_config: Config) -> None:
    _produce(kafka, 2000)
    broker.kill(kafka)
    started = subprocess.run([LAKEHOUSE, "kafka", "start", "--data-dir", str(kafka.folder)], capture_output=True,
                             text=True, timeout=120)  # the same folder: same port, same data
    assert started.returncode == 0 and kafka.bootstrap in started.stdout, started.stdout + started.stderr
    _produce(kafka, 2000)
    _stream(spark, lake_config, kafka)
    _check(lake_config)


def test_sigterm_finishes_the_batch_and_exits_cleanly(spark, kafka, lake_config: Config) -> None:
    producer = threading.Thread(target=_produce, args=(kafka, 40_000))
    producer.start()
    before = _version(lake_config)
    process = _cli(lake_config, kafka, "stream", "telemetry", "--until-idle", "60")
    _wait_for_new_rows(lake_config, before, process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    producer.join()
    assert process.returncode == 0, output[-2000:]
    assert "stopped: SIGTERM" in output
    _stream(spark, lake_config, kafka)
    _check(lake_config)


def test_a_crash_between_quarantine_and_readings_is_repaired_by_the_re_read(
    spark, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.streaming.landing import Message, land, load_state

    lake = Lake(spark, make_config(tmp_path).lake_dir)
    good = [json.dumps({"device_id": "van-001", "seq": i, "ts": f"2026-01-01T00:00:0{i}Z", "temperature_c": 4.0,
                        "humidity": 50.0, "battery_pct": 90.0}).encode() for i in range(3)]
    first = [Message(0, offset, value) for offset, value in enumerate([good[0], b"{not json", good[1]])]
    land(lake, first, load_state(lake), dt.datetime(2026, 1, 1))

    second = [Message(0, 3, b"\xff broken"), Message(0, 4, good[2]), Message(0, 5, b"[]")]
    append = Lake._append_arrow  # every driver-side append commits through it

    def crash_on_readings(self: Lake, data, table, partition_by=None) -> None:  # noqa: ANN001
        if table == "bronze.telemetry":
            raise RuntimeError("killed before the readings' commit")
        append(self, data, table, partition_by)

    monkeypatch.setattr(Lake, "_append_arrow", crash_on_readings)
    with pytest.raises(RuntimeError):
        land(lake, second, load_state(lake), dt.datetime(2026, 1, 1))
    monkeypatch.setattr(Lake, "_append_arrow", append)
    landed = land(lake, [*first, *second], load_state(lake), dt.datetime(2026, 1, 1))  # the restart re-reads

    assert (landed.records, landed.quarantined, landed.skipped) == (1, 2, 3)
    quarantined = DeltaTable(str(lake.path("bronze.quarantine"))).to_pandas()["_source"]
    assert sorted(quarantined) == [f"fleet.telemetry/0/{o}" for o in (1, 3, 5)]
    readings = DeltaTable(str(lake.path("bronze.telemetry"))).to_pandas()
    assert sorted(readings["seq"]) == [0, 1, 2]


def test_a_batch_landing_longer_than_the_idle_time_does_not_end_the_stream(
    spark, lake_config: Config, kafka: broker.Broker, engine: str
) -> None:
    """The first batch takes longer than the idle time (its callback holds it for 2.5 s against an
    idle time of 1.5 s); readings sent just after it are still landed: landing is not idle time."""
    from lakehouse.streaming.consumer import stream_embedded, stream_spark

    later = threading.Thread(target=lambda: (time.sleep(0.2), _produce(kafka, 1_000)))

    def slow_first_batch(messages, landed) -> None:  # noqa: ANN001
        if later.ident is None:  # the first batch only
            time.sleep(2.5)
            later.start()

    first = threading.Thread(target=lambda: _produce(kafka, 1_000))
    lake = Lake(spark, lake_config.lake_dir)
    if engine == "spark":
        result = stream_spark(lake_config, lake, kafka.bootstrap, 1.5, 180, lake_config.kafka.spark_batch_records,
                              on_batch=slow_first_batch, on_ready=first.start)
    else:
        result = stream_embedded(lake, kafka.bootstrap, 1.5, 180, lake_config.kafka.batch_records,
                                 on_batch=slow_first_batch, on_ready=first.start)
    first.join()
    later.join()
    assert result.stopped_by == "idle"
    _check(lake_config)


def test_every_reading_lands_once_in_a_lake_on_s3(
    spark, kafka: broker.Broker, engine: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same topic into a new lake on the project's S3 server: from the topic's start, every valid
    reading produced so far lands once, every bad one in the quarantine (the Spark checkpoint stays
    in the local data folder)."""
    lakes.use_s3(spark, engine, s3_server, monkeypatch)
    config = lakes.config_on_s3(_base_config(engine, tmp_path), lakes.new_bucket(s3_server, "stream") / "lake")
    _produce(kafka, 1_000)
    result = _stream(spark, config, kafka)
    _check(config)
    keys, bad = _expected()
    assert result.records == len(keys) and result.quarantined == bad
    if bad:  # the module's first test produced some; run alone, the topic may hold none
        assert len(lakes.table(config.lake / "bronze" / "quarantine").to_pandas(columns=["_source"])) == bad
