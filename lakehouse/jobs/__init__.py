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
    customer_churn_scores,
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
    """Days a reading can move cold-chain results: its neighbours within the gap break matter."""
    minutes = params["interval_minutes"] * cold_chain_daily.GAP_BREAK_INTERVALS
    return -1 if minutes >= 24 * 60 else 1


def _as_of(ctx: JobContext) -> dict[str, Any]:
    return {"as_of": ctx.as_of()}


def _segment_params(ctx: JobContext) -> dict[str, Any]:
    return {"rules": ctx.config.segments}


def _cold_chain_params(ctx: JobContext) -> dict[str, Any]:
    pipeline = ctx.config.pipeline
    return {"limit_c": pipeline.cold_chain_limit_c, "interval_minutes": pipeline.reading_interval_minutes}


SILVER_JOBS = [
    grouped_silver_job(customers, customers.build_customers, ("bronze.customers", "bronze.erasure_requests")),
    silver_job(products, products.build_products, ("bronze.products",)),
    grouped_silver_job(orders, orders.build_orders, orders.INPUTS),
    silver_job(fx_rates, fx_rates.build_fx_rates, ("bronze.fx_rates",)),
    grouped_silver_job(
        order_lines,
        order_lines.build_order_lines,
        (
            "bronze.order_items",
            "silver.orders",
            "silver.products",
            "silver.customers",
            "silver.fx_rates",
            "bronze.erasure_requests",
        ),
    ),
    incremental_silver_job(events, "bronze.events"),
    incremental_silver_job(telemetry, "bronze.telemetry"),
    silver_job(sales_targets, sales_targets.build_sales_targets, ("bronze.sales_targets",)),
]

GOLD_JOBS = [
    incremental_gold_job(daily_sales, daily_sales.build_daily_sales),
    gold_job(
        customer_features,
        customer_features.build_customer_features,
        ("silver.orders", "silver.order_lines", "silver.events", "silver.customers"),
        _as_of,
    ),
    incremental_gold_job(funnel_daily, funnel_daily.build_funnel_daily),
    incremental_gold_job(
        cold_chain_daily, cold_chain_daily.build_cold_chain_daily, _cold_chain_params, _cold_chain_reach
    ),
    gold_job(
        customer_segments,
        customer_segments.build_customer_segments,
        ("gold.customer_features", "silver.customers", customer_churn_scores.TABLE),
        _segment_params,
    ),
]

JOBS: dict[str, Job] = {job.name: job for job in INGEST_JOBS + SILVER_JOBS + GOLD_JOBS}
