"""Jobs that do not depend on each other run side by side; a job waits for those writing its inputs."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehouse.jobs import Job, JobContext, JobOutcome
from lakehouse.pipeline import run_jobs
from lakehouse.storage import Lake

WAIT = 20.0  # seconds a job waits for another before the test calls the schedule wrong


def _job(name: str, inputs: tuple[str, ...], body: Callable[[], None]) -> Job:
    def run(ctx: JobContext) -> JobOutcome:
        body()
        return JobOutcome(rows_in=1, rows_out=1)

    # a source-reading job: it runs every time (no fingerprint of its inputs to compare)
    return Job(name, inputs, (f"bronze.{name}",), run, incremental_source=True)


def _run(spark, make_config, tmp_path: Path, jobs: list[Job], workers: int) -> dict[str, str]:
    config = make_config(tmp_path, **{"pipeline.parallel_jobs": workers})
    summary = run_jobs(config, Lake(spark, config.lake_dir), jobs)
    assert [r.job for r in summary.reports] == [j.name for j in jobs]  # reported in the order given
    return {r.job: r.status for r in summary.reports}


def test_independent_jobs_run_side_by_side_and_a_dependent_waits(spark, make_config, tmp_path: Path) -> None:
    meet = threading.Barrier(2, timeout=WAIT)  # broken unless a and b are running at the same time
    ended: list[str] = []
    seen: list[list[str]] = []
    jobs = [
        _job("a", (), lambda: (meet.wait(), time.sleep(0.5), ended.append("a"))),
        _job("b", (), lambda: (meet.wait(), ended.append("b"))),
        _job("c", ("bronze.a",), lambda: seen.append(list(ended))),
    ]
    assert _run(spark, make_config, tmp_path, jobs, workers=2) == {"a": "ok", "b": "ok", "c": "ok"}
    assert seen and "a" in seen[0]  # c started after a ended
    # ops.job_runs keeps when each job started, so the schedule can be read back
    lake = Lake(spark, tmp_path / "lake")
    runs = {r["job"]: r for r in lake.rows("ops.job_runs")}
    start = {job: runs[job]["job_started_at"] for job in "abc"}
    end_a = start["a"] + dt.timedelta(seconds=runs["a"]["duration_s"])
    assert abs((start["a"] - start["b"]).total_seconds()) < 0.5 <= runs["a"]["duration_s"]
    assert end_a <= start["c"] + dt.timedelta(milliseconds=5)  # durations are rounded to milliseconds


def test_a_failed_job_blocks_its_dependents_only(spark, make_config, tmp_path: Path) -> None:
    ran: list[str] = []

    def fail() -> None:
        raise RuntimeError("source unreachable")

    jobs = [
        _job("a", (), fail),
        _job("b", (), lambda: ran.append("b")),
        _job("c", ("bronze.a",), lambda: ran.append("c")),
        _job("d", ("bronze.c",), lambda: ran.append("d")),
        _job("e", ("bronze.b",), lambda: ran.append("e")),
    ]
    statuses = _run(spark, make_config, tmp_path, jobs, workers=2)
    assert statuses == {"a": "failed", "b": "ok", "c": "blocked", "d": "blocked", "e": "ok"}
    assert sorted(ran) == ["b", "e"]


@pytest.mark.parametrize("workers", [1, 3])
def test_jobs_never_work_beside_more_than_the_workers(spark, make_config, tmp_path: Path, workers: int) -> None:
    lock, inside, most, order = threading.Lock(), [0], [0], []

    def body(name: str) -> Callable[[], None]:
        def work() -> None:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                order.append(name)
            threading.Event().wait(0.2)
            with lock:
                inside[0] -= 1

        return work

    names = ["a", "b", "c", "d", "e"]
    jobs = [_job(n, (), body(n)) for n in names]
    assert set(_run(spark, make_config, tmp_path, jobs, workers).values()) == {"ok"}
    assert most[0] == workers
    if workers == 1:
        assert order == names  # one by one, in the order given
