"""What every job is made of: the context a run gives its jobs, a job's outcome, the job itself,
and what the transforms share (reading inputs, the columns of rejects, warnings)."""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse.bronze import app_tables
from lakehouse.clock import to_engine
from lakehouse.config import Config
from lakehouse.gold import customer_churn_scores
from lakehouse.locking import JobTurns
from lakehouse.personal import PersonalData
from lakehouse.quality.checks import CheckResult
from lakehouse.quality.event_time import TimeBounds, unbound
from lakehouse.quality.gate import QualityGate
from lakehouse.storage import Lake
from lakehouse.tables import TableSpec

REJECTS_TABLE = "silver.rejects"
# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
REJECTS_COMMENTS = {
    "table": "the silver table the row was rejected from",
    "rule": "the reject rule it failed",
    "row_json": "the rejected row as JSON",
    "batch_id": "the run that rejected it",
    "rejected_at": "when it was rejected (UTC)",
}
# A rejected row is kept whole as JSON, personal columns and all; an erased customer's row keeps
# only its customer_id (silver jobs find a reject's group by it).
REJECTS_PERSONAL_DATA = PersonalData(
    REJECTS_TABLE,
    free_text={"row_json": "to_json(named_struct('customer_id', get_json_object(row_json, '$.customer_id'), "
                           "'erased', true))"},
    customer="CASE WHEN `table` = 'silver.customers' "
             "THEN CAST(get_json_object(row_json, '$.customer_id') AS BIGINT) END",
)
# Written by every silver job (its own slice, `table`), read by re-admission.
REJECTS = TableSpec(
    name=REJECTS_TABLE, key=(), comments=REJECTS_COMMENTS, partition_by=("table",), personal=REJECTS_PERSONAL_DATA
)


@dataclass(frozen=True)
class JobContext:
    config: Config
    lake: Lake
    run_id: str
    started_at: dt.datetime
    full: bool = False  # incremental jobs rebuild whole tables (`lakehouse run --full`)
    checks_follow: bool = False  # transforms checked by Great Expectations run after this run's ingestion
    # Jobs of the run working side by side; their heaviest steps work alone (see `alone`).
    turns: JobTurns = field(default_factory=JobTurns, compare=False)

    @cached_property
    def gate(self) -> QualityGate:
        """Quality checks for this run: before every silver and gold write."""
        return QualityGate(self.config, self.lake, self.run_id, self.started_at)

    @cached_property
    def time_bounds(self) -> TimeBounds:
        """The event times silver accepts in this run (see `lakehouse.quality.event_time`)."""
        return TimeBounds.of_run(self.config, self.started_at)

    def landing(self) -> None:
        """An ingestion has new records: when transforms will check them with Great Expectations, it
        is imported meanwhile (`QualityGate.prepare`), while the sources are still being read."""
        if self.checks_follow:
            self.gate.prepare()

    def alone(self, rows: int | None = None) -> contextlib.AbstractContextManager[None]:
        """Around work that needs the machine to itself: the full rebuild of a table otherwise written
        by increments, a backlog of files parsed in worker processes. No other job of the run works
        meanwhile, so the run's peak memory is that of its largest such step, as when jobs run one
        by one (at scale 10, two rebuilds side by side took 4.7 GB where one alone takes 3.2 GB).
        A rebuild reading fewer than `pipeline.alone_from_rows` rows (`rows`, its inputs') works
        beside the other jobs instead: its memory is small, and alone it left one of two cores idle."""
        if rows is not None and rows < self.config.pipeline.alone_from_rows:
            return contextlib.nullcontext()
        return self.turns.alone()

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
    # Transforms: the table's spec and its pure builder, which takes the spec's inputs by name
    # (re-admission runs it on rejects).
    spec: TableSpec | None = None
    builder: Callable[..., Any] | None = None
    # Transforms: the whole result from the current inputs (a DataFrame, or Built for silver);
    # backfills keep the dates they were asked for.
    compute: Callable[[JobContext], Any] | None = None

    @property
    def layer(self) -> str:
        return self.name.split("_", 1)[0]


# Inputs a job can run without (read as empty): no erasure requested yet, no model scored yet.
OPTIONAL_INPUTS: dict[str, StructType] = {
    **{t: app_tables.schema(t.split(".", 1)[1]) for t in app_tables.OPTIONAL_BRONZE},
    customer_churn_scores.SPEC.name: customer_churn_scores.SPEC.declared_schema(),
}


def read_inputs(
    ctx: JobContext, inputs: tuple[str, ...], versions: dict[str, int | None] | None = None
) -> list[DataFrame]:
    """The inputs' current rows (or those of `versions`); a missing optional input is empty."""
    frames = []
    for table in inputs:
        if not ctx.lake.exists(table) and table in OPTIONAL_INPUTS:
            frames.append(ctx.lake.spark.createDataFrame([], OPTIONAL_INPUTS[table]))
        else:
            frames.append(ctx.lake.read(table, (versions or {}).get(table)))
    return frames


def check_builder(spec: TableSpec, builder: Callable[..., Any]) -> None:
    """`builder` takes every input of `spec` by the name the spec gives it (checked when the job is
    made, at import: a misnamed input is an error naming both, not a failed run)."""
    parameters = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    by_keyword = [n for n, p in parameters.items() if p.kind is not inspect.Parameter.POSITIONAL_ONLY]
    missing = [name for name in spec.inputs if name not in by_keyword]
    if missing:
        called = getattr(builder, "__name__", repr(builder))
        raise ValueError(f"{spec.name}: its builder {called}() takes no parameter {', '.join(missing)} by name "
                         f"(its spec's inputs); it takes {', '.join(by_keyword) or 'none'}")


def by_name(spec: TableSpec, frames: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
    """The builder's arguments: each of the spec's inputs (`frames` by table) under its parameter name."""
    return {param: frames[table] for param, table in spec.inputs.items()}


def read_named(ctx: JobContext, spec: TableSpec) -> dict[str, DataFrame]:
    """The spec's inputs' current rows, by the builder's parameter names (see `read_inputs`)."""
    return by_name(spec, dict(zip(spec.input_tables, read_inputs(ctx, spec.input_tables), strict=True)))


def builder_options(ctx: JobContext, spec: TableSpec) -> dict[str, Any]:
    """What a silver builder takes beyond its inputs: the run's time bounds, when the table's
    rules reject rows by them."""
    return {"bounds": ctx.time_bounds} if unbound(spec.rules) else {}


def count_rows(ctx: JobContext, tables: tuple[str, ...]) -> int:
    return sum(ctx.lake.row_count(t) for t in tables if ctx.lake.exists(t))


def with_reject_columns(rejects: DataFrame, ctx: JobContext) -> DataFrame:
    """silver.rejects rows: the transform's (table, rule, row_json) plus the run and the time."""
    return rejects.withColumn("batch_id", F.lit(ctx.run_id)).withColumn(
        "rejected_at", F.lit(to_engine(ctx.started_at))
    )


def describe_warnings(warnings: list[CheckResult]) -> tuple[str, ...]:
    return tuple(f"{w.table}: {w.rule} ({w.observed})" for w in warnings)
