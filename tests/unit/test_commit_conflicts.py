"""Which errors count as a lost Delta commit race (retried) and that a retried write is retried once."""

from __future__ import annotations

import pytest

from lakehouse.commits import is_commit_conflict, retry_conflicts


class ConcurrentAppendException(Exception):
    pass


class CommitFailedError(Exception):
    pass


@pytest.mark.parametrize("error", [
    ConcurrentAppendException("Files were added to the root of the table by a concurrent update"),
    RuntimeError("io.delta.exceptions.ConcurrentDeleteReadException: This transaction attempted to read ..."),
    RuntimeError("[DELTA_PROTOCOL_CHANGED] io.delta.exceptions.ProtocolChangedException: The protocol version"),
    RuntimeError("io.delta.exceptions.MetadataChangedException: The metadata of the Delta table has been changed"),
    CommitFailedError("Transaction failed: version already exists: 3"),
    RuntimeError("Failed to commit transaction: version 7 already exists"),
])
def test_lost_commit_races_are_conflicts(error: Exception) -> None:
    assert is_commit_conflict(error)


@pytest.mark.parametrize("error", [
    RuntimeError("Concurrent queries exceeded the limit"),
    ValueError("column ConcurrentUsers not found"),
    RuntimeError("[TABLE_OR_VIEW_NOT_FOUND] The table or view `silver.x` cannot be found"),
    OSError("No space left on device"),
])
def test_other_errors_are_not(error: Exception) -> None:
    assert not is_commit_conflict(error)


def test_a_write_inside_a_retried_write_is_not_retried_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr(time, "sleep", lambda _seconds: None)  # tenacity's waits between attempts
    calls = {"outer": 0, "inner": 0}

    @retry_conflicts
    def inner() -> None:
        calls["inner"] += 1
        raise RuntimeError("Failed to commit transaction: version 1 already exists")

    @retry_conflicts
    def outer() -> None:
        calls["outer"] += 1
        inner()

    with pytest.raises(RuntimeError, match="Failed to commit"):
        outer()
    assert calls == {"outer": 12, "inner": 12}  # 12 attempts in all, not 12 x 12
    with pytest.raises(RuntimeError):  # and a write on its own is retried again afterwards
        inner()
    assert calls["inner"] == 24
