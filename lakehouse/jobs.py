"""The job catalogue: every job's inputs, outputs and what it runs.

Ingestion jobs read sources and append to bronze. Transform jobs read tables, call one pure
transform from `lakehouse.silver` / `lakehouse.gold`, and overwrite their table in one commit;
silver jobs also replace their own slice of `silver.rejects`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse import ingest
from lakehouse.bronze import app_tables
from lakehouse.config import Config
from lakehouse.gold import (
    cold_chain_daily,
    customer_churn_scores,
    customer_features,
    customer_segments,
    daily_sales,
    funnel_daily,
)
from lakehouse.quality.checks import CheckResult, QualityGateFailed
from lakehouse.quality.gate import QualityGate
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
from lakehouse.storage import Lake

REJECTS_TABLE = "silver.rejects"


@dataclass(frozen=True)
class JobContext:
    config: Config
    lake: Lake
    run_id: str
    started_at: dt.datetime

    @cached_property
    def gate(self) -> QualityGate:
        """Quality checks for this run: before every silver and gold write."""
        return QualityGate(self.config, self.lake, self.run_id, self.started_at)

    def as_of(self) -> dt.date:
        """The run date for gold: configured, else the latest order date in silver."""
        if self.config.pipeline.run_date:
            return self.config.pipeline.run_date
        latest = self.lake.read("silver.orders").agg(F.max("order_date")).first()
        return latest[0] if latest and latest[0] else self.started_at.date()


@dataclass(frozen=True)
class JobOutcome:
    rows_in: int = 0
    rows_out: int = 0
    rejects: int = 0
    note: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    run: Callable[[JobContext], JobOutcome]
    # Ingestion jobs look at their sources every time; transforms are skipped when their inputs
    # (Delta versions) and parameters are the same as at their last successful run.
    incremental_source: bool = False
    params: Callable[[JobContext], dict[str, Any]] = field(default=lambda ctx: {})
    # Transforms: the table's module and its pure builder (re-admission runs them on rejects).
    module: ModuleType | None = None
    builder: Callable[..., Any] | None = None

    @property
    def layer(self) -> str:
        return self.name.split("_", 1)[0]


# -- ingestion ----------------------------------------------------------------------------------
def _ingest_job(name: str, outputs: tuple[str, ...], fn: Callable[..., ingest.IngestResult]) -> Job:
    def run(ctx: JobContext) -> JobOutcome:
        try:
            result = fn(ctx.lake, ctx.config, ctx.started_at)
        except QualityGateFailed as exc:  # a source check failed: keep its outcomes, then stop
            ctx.gate.record(name, exc.results)
            raise
        warnings = ctx.gate.record(name, result.checks)
        note = f"{result.batches} batch(es)"
        if result.skipped_files:
            note += f", {result.skipped_files} re-delivered file(s) skipped"
        rows_in = result.records + result.rejected
        return JobOutcome(rows_in, result.records, result.rejected, note, warnings=_describe(warnings))

    return Job(name, (), outputs + ("bronze.quarantine",), run, incremental_source=True)


APP_OUTPUTS = tuple(app_tables.bronze_table(n) for n in ("customers", "products", "orders", "order_items"))
INGEST_JOBS = [
    _ingest_job("bronze_app_db", APP_OUTPUTS + ("bronze.erasure_requests",), ingest.ingest_app_db),
    _ingest_job("bronze_clickstream", ("bronze.events",), ingest.ingest_clickstream),
    _ingest_job("bronze_telemetry", ("bronze.telemetry",), ingest.ingest_telemetry_files),
    _ingest_job("bronze_fx", ("bronze.fx_rates",), ingest.ingest_fx),
    _ingest_job("bronze_targets", ("bronze.sales_targets",), ingest.ingest_targets),
]


# -- transforms ---------------------------------------------------------------------------------
# Inputs a job can run without (read as empty): no erasure requested yet, no model scored yet.
OPTIONAL_INPUTS: dict[str, StructType] = {
    **{t: app_tables.schema(t.split(".", 1)[1]) for t in app_tables.OPTIONAL_BRONZE},
    customer_churn_scores.TABLE: customer_churn_scores.SCHEMA,
}


def read_inputs(ctx: JobContext, inputs: tuple[str, ...]) -> list[DataFrame]:
    frames = []
    for table in inputs:
        if not ctx.lake.exists(table) and table in OPTIONAL_INPUTS:
            frames.append(ctx.lake.spark.createDataFrame([], OPTIONAL_INPUTS[table]))
        else:
            frames.append(ctx.lake.read(table))
    return frames


def _count(ctx: JobContext, tables: tuple[str, ...]) -> int:
    return sum(ctx.lake.row_count(t) for t in tables if ctx.lake.exists(t))


def with_reject_columns(rejects: DataFrame, ctx: JobContext) -> DataFrame:
    """silver.rejects rows: the transform's (table, rule, row_json) plus the run and the time."""
    return rejects.withColumn("batch_id", F.lit(ctx.run_id)).withColumn(
        "rejected_at", F.lit(ctx.started_at.replace(tzinfo=None))
    )


def _describe(warnings: list[CheckResult]) -> tuple[str, ...]:
    return tuple(f"{w.table}: {w.rule} ({w.observed})" for w in warnings)


def _silver_job(module: ModuleType, builder: Callable[..., Any], inputs: tuple[str, ...]) -> Job:
    table: str = module.TABLE

    def run(ctx: JobContext) -> JobOutcome:
        built = builder(*read_inputs(ctx, inputs))
        with ctx.lake.staging() as stage:
            # Computed once into Parquet: checked there, then committed only if no critical check failed.
            rows = ctx.gate.stage(built.rows, stage, "rows")
            rejects = ctx.gate.stage(with_reject_columns(built.rejects, ctx), stage, "rejects")
            results = ctx.gate.check(name, module, rows, rejects)
            ctx.lake.overwrite(rows, table, module.PARTITION_BY)
            ctx.lake.replace_where(rejects, REJECTS_TABLE, f"table = '{table}'", partition_by=["table"])
        warnings = ctx.gate.commit(name, table, results)
        rejected = ctx.lake.read(REJECTS_TABLE).where(F.col("table") == table).count()
        return JobOutcome(_count(ctx, inputs), ctx.lake.row_count(table), rejected, warnings=_describe(warnings))

    name = "silver_" + table.split(".", 1)[1]
    return Job(name, inputs, (table, REJECTS_TABLE), run, module=module, builder=builder)


def _gold_job(
    module: ModuleType,
    builder: Callable[..., DataFrame],
    inputs: tuple[str, ...],
    params: Callable[[JobContext], dict[str, Any]] = lambda ctx: {},
) -> Job:
    table: str = module.TABLE

    def run(ctx: JobContext) -> JobOutcome:
        result = builder(*read_inputs(ctx, inputs), **params(ctx))
        with ctx.lake.staging() as stage:
            rows = ctx.gate.stage(result, stage, "rows")
            results = ctx.gate.check(name, module, rows)
            ctx.lake.overwrite(rows, table, module.PARTITION_BY)
        warnings = ctx.gate.commit(name, table, results)
        return JobOutcome(_count(ctx, inputs), ctx.lake.row_count(table), 0, warnings=_describe(warnings))

    name = "gold_" + table.split(".", 1)[1]
    return Job(name, inputs, (table,), run, params=params, module=module, builder=builder)


def _as_of(ctx: JobContext) -> dict[str, Any]:
    return {"as_of": ctx.as_of()}


def _segment_params(ctx: JobContext) -> dict[str, Any]:
    return {"rules": ctx.config.segments}


def _cold_chain_params(ctx: JobContext) -> dict[str, Any]:
    pipeline = ctx.config.pipeline
    return {"limit_c": pipeline.cold_chain_limit_c, "interval_minutes": pipeline.reading_interval_minutes}


SILVER_JOBS = [
    _silver_job(customers, customers.build_customers, ("bronze.customers", "bronze.erasure_requests")),
    _silver_job(products, products.build_products, ("bronze.products",)),
    _silver_job(orders, orders.build_orders, ("bronze.orders",)),
    _silver_job(fx_rates, fx_rates.build_fx_rates, ("bronze.fx_rates",)),
    _silver_job(
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
    _silver_job(events, events.build_events, ("bronze.events",)),
    _silver_job(telemetry, telemetry.build_telemetry, ("bronze.telemetry",)),
    _silver_job(sales_targets, sales_targets.build_sales_targets, ("bronze.sales_targets",)),
]

GOLD_JOBS = [
    _gold_job(daily_sales, daily_sales.build_daily_sales, ("silver.order_lines",)),
    _gold_job(
        customer_features,
        customer_features.build_customer_features,
        ("silver.orders", "silver.order_lines", "silver.events", "silver.customers"),
        _as_of,
    ),
    _gold_job(funnel_daily, funnel_daily.build_funnel_daily, ("silver.events", "silver.orders")),
    _gold_job(cold_chain_daily, cold_chain_daily.build_cold_chain_daily, ("silver.telemetry",), _cold_chain_params),
    _gold_job(
        customer_segments,
        customer_segments.build_customer_segments,
        ("gold.customer_features", "silver.customers", customer_churn_scores.TABLE),
        _segment_params,
    ),
]

JOBS: dict[str, Job] = {job.name: job for job in INGEST_JOBS + SILVER_JOBS + GOLD_JOBS}
