"""The job catalogue: every job's inputs, outputs and what it runs.

Ingestion jobs read sources and append to bronze (`lakehouse.jobs.ingestion`). Transform jobs read
tables, call one pure transform from `lakehouse.silver` / `lakehouse.gold` and write their table
behind the quality gate (`lakehouse.jobs.silver`, `lakehouse.jobs.gold`); silver jobs also replace
their own slice of `silver.rejects`. What every job is made of is in `lakehouse.jobs.base`.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql.types import StructType

from lakehouse import ingest
from lakehouse.bronze import app_tables, quarantine
from lakehouse.bronze import events as bronze_events
from lakehouse.bronze import fx_rates as bronze_fx
from lakehouse.bronze import sales_targets as bronze_targets
from lakehouse.bronze import telemetry as bronze_telemetry
from lakehouse.gold import (
    cold_chain_daily,
    customer_churn_scores,
    customer_features,
    customer_segments,
    daily_sales,
    funnel_daily,
    model_monitoring,
)
from lakehouse.jobs.base import (
    OPTIONAL_INPUTS,
    REJECTS_TABLE,
    Job,
    JobContext,
    JobOutcome,
    read_inputs,
    with_reject_columns,
)
from lakehouse.jobs.gold import gold_job, incremental_gold_job
from lakehouse.jobs.ingestion import ingest_job
from lakehouse.jobs.silver import grouped_silver_job, incremental_silver_job, silver_job
from lakehouse.silver import (
    customers,
    events,
    fx_rates,
    order_lines,
    orders,
    products,
    sales_targets,
    telemetry,
)
from lakehouse.tables import ByDates, ByGroups, FirstLanding, TableSpec

__all__ = [
    "GOLD_JOBS", "INGEST_JOBS", "JOBS", "OPTIONAL_INPUTS", "REJECTS_TABLE", "SILVER_JOBS", "Job", "JobContext",
    "JobOutcome", "read_inputs", "with_reject_columns",
]

APP_OUTPUTS = tuple(app_tables.bronze_table(n) for n in ("customers", "products", "orders", "order_items"))
INGEST_JOBS = [
    ingest_job("bronze_app_db", APP_OUTPUTS + ("bronze.erasure_requests",), ingest.ingest_app_db),
    ingest_job("bronze_clickstream", ("bronze.events",), ingest.ingest_clickstream),
    ingest_job("bronze_telemetry", ("bronze.telemetry",), ingest.ingest_telemetry_files),
    ingest_job("bronze_fx", ("bronze.fx_rates",), ingest.ingest_fx),
    ingest_job("bronze_targets", ("bronze.sales_targets",), ingest.ingest_targets),
]


def _cold_chain_reach(params: dict[str, Any]) -> int:
    return cold_chain_daily.days_reached(params["interval_minutes"])


def _as_of(ctx: JobContext) -> dict[str, Any]:
    return {"as_of": ctx.as_of()}


def _segment_params(ctx: JobContext) -> dict[str, Any]:
    return {"rules": ctx.config.segments}


def _cold_chain_params(ctx: JobContext) -> dict[str, Any]:
    pipeline = ctx.config.pipeline
    return {"limit_c": pipeline.cold_chain_limit_c, "interval_minutes": pipeline.reading_interval_minutes}


SILVER_JOBS = [
    grouped_silver_job(customers.SPEC, customers.build_customers, customers.affected_groups),
    silver_job(products.SPEC, products.build_products),
    grouped_silver_job(orders.SPEC, orders.build_orders, orders.affected_groups),
    silver_job(fx_rates.SPEC, fx_rates.build_fx_rates),
    grouped_silver_job(order_lines.SPEC, order_lines.build_order_lines, order_lines.affected_groups),
    incremental_silver_job(events.SPEC, events.build_from_first),
    incremental_silver_job(telemetry.SPEC, telemetry.build_from_first),
    silver_job(sales_targets.SPEC, sales_targets.build_sales_targets),
]

GOLD_JOBS = [
    incremental_gold_job(daily_sales.SPEC, daily_sales.build_daily_sales),
    gold_job(customer_features.SPEC, customer_features.build_customer_features, _as_of),
    incremental_gold_job(funnel_daily.SPEC, funnel_daily.build_funnel_daily),
    incremental_gold_job(
        cold_chain_daily.SPEC, cold_chain_daily.build_cold_chain_daily, _cold_chain_params, _cold_chain_reach
    ),
    gold_job(customer_segments.SPEC, customer_segments.build_customer_segments, _segment_params),
]

# What the bronze tables hold (the columns the silver specs' strategies name are checked against them).
BRONZE_SCHEMAS: dict[str, StructType] = {
    **{app_tables.bronze_table(n): app_tables.schema(n)
       for n in ("customers", "products", "orders", "order_items", "erasure_requests")},
    **{m.TABLE: m.SCHEMA for m in (bronze_events, bronze_telemetry, bronze_fx, bronze_targets)},
}


# Tables a slice of which each job of one layer writes (its own rows).
SHARED = {REJECTS_TABLE: "silver", quarantine.TABLE: "bronze"}
# Gold tables written by commands, not jobs (`lakehouse score`, `lakehouse monitor`).
WRITTEN_ELSEWHERE = (customer_churn_scores.SPEC, model_monitoring.SPEC)


def catalogue(jobs: list[Job]) -> dict[str, Job]:
    """The jobs by name, checked when the catalogue is imported, so that a slip (a spec copied and
    left with another table's name, a misspelt column) is an error naming the table, not a table
    overwritten or a run failing deep in the engine:
    - one job per name, one writer per table (`SHARED` tables: a slice per job of their layer),
      no job writing an `ops` table or a table a command writes (`WRITTEN_ELSEWHERE`);
    - every input is written by a job or may be absent (`OPTIONAL_INPUTS`);
    - every column a spec's incremental strategy names is a column of that input, where the
      input's schema is declared (bronze, silver, and the gold tables commands write)."""
    by_name: dict[str, Job] = {}
    writers: dict[str, str] = {}
    elsewhere = {spec.name for spec in WRITTEN_ELSEWHERE}
    for job in jobs:
        if job.name in by_name:
            raise ValueError(f"two jobs are named {job.name} (two table specs named {job.outputs[0]}?)")
        for table in job.outputs:
            if table in SHARED:
                if job.layer != SHARED[table]:
                    raise ValueError(f"{job.name} writes {table}, which only {SHARED[table]} jobs write")
            elif table in elsewhere or table.startswith("ops."):
                raise ValueError(f"{job.name} writes {table}, which a command or the run's state owns")
            elif table in writers:
                raise ValueError(f"{table} is written by two jobs: {writers[table]} and {job.name}")
            writers[table] = job.name
        by_name[job.name] = job
    for job in jobs:
        unwritten = [t for t in job.inputs if t not in writers and t not in OPTIONAL_INPUTS]
        if unwritten:
            raise ValueError(f"{job.name} reads {', '.join(unwritten)}, which no job writes")
    declared = [*(j.spec for j in jobs if j.spec), *WRITTEN_ELSEWHERE]
    schemas = {**BRONZE_SCHEMAS, **{spec.name: spec.schema for spec in declared if spec.schema}}
    for spec in (j.spec for j in jobs if j.spec is not None):
        for table, column in strategy_columns(spec):
            known = schemas.get(table)
            if known is not None and column not in known.fieldNames():
                raise ValueError(f"{spec.name}: its incremental strategy names {column!r}, not a column of {table}")
    return by_name


def strategy_columns(spec: TableSpec) -> list[tuple[str, str]]:
    """(input table, column) for each column of an input that the spec's strategy names."""
    kept = spec.incremental
    if isinstance(kept, FirstLanding):
        return [(kept.source, c) for c in kept.first_by]
    if isinstance(kept, ByGroups):
        return ([(t, kept.group_key) for t in kept.keyed_inputs]
                + [(t, c) for t, columns in kept.tracked.items() for c in columns]
                + list(kept.dated_inputs.items()))
    if isinstance(kept, ByDates):
        return list(kept.input_dates.items())
    return []


JOBS: dict[str, Job] = catalogue(INGEST_JOBS + SILVER_JOBS + GOLD_JOBS)
