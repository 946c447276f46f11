"""The job graph: dependency order, selection by name or layer, unknown names."""

from __future__ import annotations

import pytest

from lakehouse.jobs import JOBS, OPTIONAL_INPUTS
from lakehouse.pipeline import UnknownJob, order_jobs, select_jobs


def _position(names: list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


def test_every_job_runs_after_the_jobs_that_write_its_inputs() -> None:
    ordered = [job.name for job in select_jobs([])]
    assert sorted(ordered) == sorted(JOBS)
    where = _position(ordered)
    writers = {out: job.name for job in JOBS.values() for out in job.outputs
               if out not in ("bronze.quarantine", "silver.rejects")}
    for job in JOBS.values():
        for table in job.inputs:
            if table in OPTIONAL_INPUTS and table not in writers:  # e.g. scores from `lakehouse score`
                continue
            assert table in writers, f"{job.name} reads {table}, which no job writes"
            assert where[writers[table]] < where[job.name], (job.name, table)


def test_select_by_layer_and_name_keeps_dependency_order() -> None:
    names = [job.name for job in select_jobs(["gold_daily_sales", "silver"])]
    assert names[-1] == "gold_daily_sales"
    assert set(names) == {j for j in JOBS if j.startswith("silver_")} | {"gold_daily_sales"}
    where = _position(names)
    assert where["silver_orders"] < where["silver_order_lines"]
    assert where["silver_customers"] < where["silver_order_lines"]


def test_unknown_job_names_the_choices() -> None:
    with pytest.raises(UnknownJob, match="unknown job 'gold_sales'.*gold_daily_sales"):
        select_jobs(["gold_sales"])


def test_a_cycle_is_reported() -> None:
    from dataclasses import replace

    a = replace(JOBS["silver_orders"], inputs=("silver.order_lines",))
    b = JOBS["silver_order_lines"]
    with pytest.raises(RuntimeError, match="cycle"):
        order_jobs([a, b])
