"""The job catalogue: every job's inputs, outputs and what it runs.

Ingestion jobs read sources and append to bronze (`lakehouse.jobs.ingestion`). Transform jobs read
tables, call one pure transform from `lakehouse.silver` / `lakehouse.gold` and write their table
behind the quality gate (`lakehouse.jobs.silver`, `lakehouse.jobs.gold`); silver jobs also replace
their own slice of `silver.rejects`. What every job is made of is in `lakehouse.jobs.base`.
"""

from __future__ import annotations

from typing import Any

from lakehouse import ingest
from lakehouse.bronze import app_tables
from lakehouse.gold import (
    cold_chain_daily,
    customer_features,
    customer_segments,
    daily_sales,
    funnel_daily,
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

JOBS: dict[str, Job] = {job.name: job for job in INGEST_JOBS + SILVER_JOBS + GOLD_JOBS}
