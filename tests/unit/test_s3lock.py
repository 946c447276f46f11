"""The lake lock's lease record on object storage: what a lock object says, and what is wrong with
one this code did not write (`lakehouse.s3lock.parse_lock`)."""

from __future__ import annotations

import json

import pytest

from lakehouse.s3lock import LockRecord, parse_lock

WRITTEN, LEASE = 1_800_000_000.0, 30.0


def test_a_lease_is_read_as_written() -> None:
    body = b'{"holder": "a run (pid 7)", "token": "abc", "expires": 1800000012.5}'
    assert parse_lock(body, WRITTEN, LEASE) == LockRecord("a run (pid 7)", "abc", 1_800_000_012.5)
    assert parse_lock(b'{"token": "abc", "expires": 1800000012}', WRITTEN, LEASE).holder == "another process"


@pytest.mark.parametrize(("body", "problem"), [
    (b'{"holder": "h", "token": "t", "expires": "soon"}', "its 'expires' is \"soon\", not a finite number"),
    (b'{"holder": "h", "token": "t", "expires": "1800000012"}', "its 'expires' is \"1800000012\""),
    (b'{"holder": "h", "token": "t"}', "its 'expires' is missing"),
    (b'{"holder": "h", "token": "t", "expires": null}', "its 'expires' is missing"),
    (b'{"holder": "h", "token": "t", "expires": true}', "its 'expires' is true"),
    (b'{"holder": "h", "token": "t", "expires": [1]}', "its 'expires' is [1]"),
    (b'{"holder": "h", "token": "t", "expires": 1e999}', "its 'expires' is Infinity"),
    (b'{"holder": "h", "token": "t", "expires": NaN}', "its 'expires' is NaN"),
    (b'{"holder": "h", "token": "t", "expires": 1' + b"0" * 400 + b"}", "its 'expires' is 1000"),
    (b"[1800000012]", "it is not a JSON object"),
    (b'{"holder": "h", "tok', "it is not JSON"),
    (b"\xff\xfe\x00", "it is not JSON"),
])
def test_a_malformed_lock_says_what_is_wrong_and_is_held_for_a_lease_after_it_was_written(
    body: bytes, problem: str
) -> None:
    record = parse_lock(body, WRITTEN, LEASE)
    assert record.problem is not None and record.problem.startswith(problem), record.problem
    assert record.expires == WRITTEN + LEASE  # neither held for ever nor taken at once


def test_the_holder_names_the_command_words_never_its_arguments(monkeypatch) -> None:
    """The holder text is shown to other runs and, on S3, kept in the lake: no path, query or address."""
    from lakehouse.holder import holder_text

    monkeypatch.setattr("sys.argv", ["/opt/venv/bin/lakehouse", "--data-dir", "/home/jane.doe/lake", "run",
                                     "gold", "--wait", "30", "jane.doe@example.com", "SELECT * FROM x"])
    text = holder_text()
    assert text.endswith("UTC: lakehouse run gold)"), text
    assert "jane" not in text and "example" not in text and "SELECT" not in text


def test_a_lock_nested_past_any_parser_is_malformed_not_a_crash() -> None:
    record = parse_lock(b"[" * 100_000 + b"]" * 100_000, WRITTEN, LEASE)
    assert record.expires == WRITTEN + LEASE and record.problem == "it is not JSON"


def test_a_holder_with_terminal_escapes_is_shown_printable_and_short() -> None:
    holder = "x\n\x1b[2J\x1b[31mFAKE: lake free\x1b[0m" + "y" * 300_000
    body = json.dumps({"holder": holder, "token": "t", "expires": 1_800_000_000}).encode()
    shown = parse_lock(body, WRITTEN, LEASE).holder
    assert "\x1b" not in shown and "\n" not in shown and len(shown) <= 200 and "FAKE" in shown


def test_a_heartbeat_that_cannot_renew_for_any_reason_gives_the_lease_up() -> None:
    import threading

    from lakehouse import s3lock

    class Broken:
        lease_seconds, lake = 0.03, "s3://b/lake"
        lost = threading.Event()

        def renew(self) -> None:
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    lease, stop = Broken(), threading.Event()
    beat = threading.Thread(target=s3lock._heartbeat, args=(lease, stop))
    beat.start()
    beat.join(5)
    assert lease.lost.is_set() and not beat.is_alive()
