"""Jobs of a run work side by side; a section alone (a full rebuild) has the run to itself."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import cast

from lakehouse.config import load_config
from lakehouse.jobs.base import JobContext
from lakehouse.locking import JobTurns
from lakehouse.storage import Lake

WAIT = 10.0  # seconds a test waits for a thread before calling it stuck


def _start(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _joined(*threads: threading.Thread) -> bool:
    for thread in threads:
        thread.join(WAIT)
    return not any(t.is_alive() for t in threads)


def test_jobs_work_side_by_side() -> None:
    turns, meet = JobTurns(), threading.Barrier(2, timeout=WAIT)
    met: list[bool] = []

    def job() -> None:
        with turns.working():
            meet.wait()  # both inside at once, or the barrier breaks
            met.append(True)

    assert _joined(_start(job), _start(job))
    assert met == [True, True]


def test_a_section_alone_waits_for_the_others_and_holds_new_ones_back() -> None:
    turns, log, lock = JobTurns(), [], threading.Lock()
    a_inside, a_may_end, b_asked = threading.Event(), threading.Event(), threading.Event()
    b_alone, b_may_end = threading.Event(), threading.Event()

    def note(what: str) -> None:
        with lock:
            log.append(what)

    def a() -> None:
        with turns.working():
            a_inside.set()
            a_may_end.wait(WAIT)
            note("a ends")

    def b() -> None:
        a_inside.wait(WAIT)
        with turns.working():
            b_asked.set()
            with turns.alone():
                note("b alone")
                b_alone.set()
                b_may_end.wait(WAIT)
                note("b alone ends")
            note("b works again")

    def c() -> None:  # starts while b is alone
        with turns.working():
            note("c works")

    threads = [_start(a), _start(b)]
    assert b_asked.wait(WAIT)
    time.sleep(0.2)
    assert not b_alone.is_set()  # a is still working
    a_may_end.set()
    assert b_alone.wait(WAIT)
    threads.append(_start(c))
    time.sleep(0.2)
    with lock:
        assert "c works" not in log  # held back while b is alone
    b_may_end.set()
    assert _joined(*threads)
    assert log[:3] == ["a ends", "b alone", "b alone ends"]
    assert set(log[3:]) == {"b works again", "c works"}


def _most_at_once(turns: JobTurns, section: Callable[[], AbstractContextManager[None]]) -> int:
    """How many of two jobs, each asking for `section` while the other works, were inside it at once."""
    inside, most, lock = [0], [0], threading.Lock()
    both_working = threading.Barrier(2, timeout=WAIT)

    def job() -> None:
        with turns.working():
            both_working.wait()  # each asks while the other works: neither may wait for the other
            with section():
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.2)
                with lock:
                    inside[0] -= 1

    assert _joined(_start(job), _start(job))
    return most[0]


def test_two_jobs_asking_to_be_alone_at_once_take_turns() -> None:
    turns = JobTurns()
    assert _most_at_once(turns, turns.alone) == 1


def test_alone_outside_a_job_and_inside_itself() -> None:
    turns = JobTurns()
    with turns.alone(), turns.alone():  # a rebuild called directly (a backfill, a test), nested
        pass
    with turns.working():  # and the run goes on as before
        pass


def _run_context(alone_from_rows: int) -> JobContext:
    config = load_config("test", overrides={"pipeline.alone_from_rows": alone_from_rows}, environ={})
    return JobContext(config, cast(Lake, None), "run-1", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_a_rebuild_below_the_configured_rows_works_beside_the_others_and_a_larger_one_alone() -> None:
    ctx = _run_context(alone_from_rows=1000)
    assert _most_at_once(ctx.turns, lambda: ctx.alone(999)) == 2
    assert _most_at_once(ctx.turns, lambda: ctx.alone(1000)) == 1
    every = _run_context(alone_from_rows=0)  # 0: every rebuild alone
    assert _most_at_once(every.turns, lambda: every.alone(0)) == 1
