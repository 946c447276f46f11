"""The device swarm's producer: a reading the broker did not acknowledge is an error that says how
many, never a count of readings "produced" that were not."""

from __future__ import annotations

import socket
import time

import pytest

from lakehouse.streaming import swarm
from lakehouse.streaming.swarm import TOPIC, PublishError, publish


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readings_no_broker_acknowledged_are_an_error_naming_how_many() -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(PublishError) as raised:
        publish(bootstrap, 5, rate=1e9, limit=25, settings={"message.timeout.ms": 1500, "log_level": 0})
    message = str(raised.value)
    assert message.startswith(f"25 of 25 readings were not delivered to {TOPIC} at {bootstrap}"), message
    assert message.endswith("Local: Message timed out"), message


def test_a_full_queue_waits_no_longer_than_the_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(swarm, "FLUSH_SECONDS", 1.0)
    bootstrap = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(PublishError, match=r"^50 of 50 readings were not delivered"):
        # a queue of 50 that nobody empties; messages would time out only after a minute
        publish(bootstrap, 5, rate=1e9, duration=1.0,
                settings={"queue.buffering.max.messages": 50, "message.timeout.ms": 60_000, "log_level": 0})
    assert time.monotonic() - started < 15
