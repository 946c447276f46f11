"""Re-admission: put rejected rows back through their table's transform after a fix.

`readmit(ctx, table, rule)` takes the rows of `silver.rejects` for one table and rule (each holds
the bronze row as it arrived), runs the table's transform on them with the current state of its
other inputs (for example, the product that was missing has arrived since), and:

- appends the rows that now pass, and whose key the table does not hold yet, after the table's
  quality gate — so a key is never admitted twice and a version in the table is never overwritten;
- removes the rule's rows from `silver.rejects`, putting back those that still fail, under the
  rule they fail now (with this run's batch id);
- counts as `superseded` a passing row whose key the table already holds with other values (a
  transform keeps one version per key, so this happens only when a later version was loaded since;
  the row itself stays in bronze).

The table is written before the rejects. If a run stops between the two writes, the next
`readmit` finds the rows already in the table (counted as admitted) and only fixes the rejects.
`silver.customers` keeps history (SCD2): its rows are re-admitted by rebuilding the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from lakehouse.jobs import JOBS, REJECTS_TABLE, Job, JobContext, read_inputs, with_reject_columns
from lakehouse.jobs.base import builder_options
from lakehouse.quality.rules import Built


class ReadmitError(ValueError):
    """The table or rule cannot be re-admitted (named in the message)."""


@dataclass(frozen=True)
class ReadmitResult:
    table: str
    rule: str
    candidates: int
    admitted: int
    still_rejected: int
    superseded: int = 0  # passed, but the table holds the key with other values: left as it is
    rebuilt: bool = False


def _silver_job(table: str) -> Job:
    job = JOBS.get("silver_" + table.split(".", 1)[-1])
    if job is None or not table.startswith("silver."):
        silver = sorted(j.outputs[0] for j in JOBS.values() if j.layer == "silver")
        raise ReadmitError(f"'{table}' has no rejects to re-admit; silver tables: {', '.join(silver)}")
    return job


def _as_text(schema: StructType) -> StructType:
    """Timestamps are text in a reject's JSON (see `json_struct`)."""
    return StructType(
        [
            StructField(f.name, StringType() if isinstance(f.dataType, TimestampType) else f.dataType)
            for f in schema.fields
        ]
    )


def bronze_rows(rejects: DataFrame, bronze_schema: StructType) -> DataFrame:
    """The bronze rows inside `row_json`, typed like the bronze table."""
    parsed = rejects.select(F.from_json("row_json", _as_text(bronze_schema)).alias("_r")).select("_r.*")
    return parsed.select(
        *[
            F.col(f.name).cast(f.dataType).alias(f.name) if isinstance(f.dataType, TimestampType) else F.col(f.name)
            for f in bronze_schema.fields
        ]
    )


def _same_row(left: DataFrame, right: DataFrame) -> DataFrame:
    """Rows of `left` that `right` holds with every column equal (null-safe)."""
    condition = reduce(lambda a, b: a & b, [left[c].eqNullSafe(right[c]) for c in left.columns])
    return left.join(right, condition, "left_semi")


def readmit(ctx: JobContext, table: str, rule: str) -> ReadmitResult:
    """Re-process the rejects of `table` under `rule`; see the module docstring."""
    job = _silver_job(table)
    lake = ctx.lake
    candidates_frame = lake.read(REJECTS_TABLE).where((F.col("table") == table) & (F.col("rule") == rule))
    candidates = candidates_frame.count()
    if candidates == 0:
        return ReadmitResult(table, rule, 0, 0, 0)
    if table == "silver.customers":
        job.run(ctx)  # history is rebuilt from bronze as a whole, with today's rules and data
        left = lake.read(REJECTS_TABLE).where((F.col("table") == table) & (F.col("rule") == rule)).count()
        return ReadmitResult(table, rule, candidates, candidates - left, left, rebuilt=True)
    return _readmit_rows(ctx, job, table, rule, candidates_frame, candidates)


def _readmit_rows(
    ctx: JobContext, job: Job, table: str, rule: str, rejected: DataFrame, candidates: int
) -> ReadmitResult:
    lake = ctx.lake
    spec, builder = job.spec, job.builder
    assert spec is not None and builder is not None, f"{job.name} is not a transform"
    (primary, source), *others = spec.inputs.items()  # the first input: the rows rejects hold
    inputs = {primary: bronze_rows(rejected, lake.read(source).schema)}
    inputs.update(zip((p for p, _ in others), read_inputs(ctx, tuple(t for _, t in others)), strict=True))
    # With this run's time bounds: a row rejected as dated in the future passes once its time has come.
    built: Built = builder(**inputs, **builder_options(ctx, spec))
    current = lake.read(table)
    with lake.staging() as stage:
        passing = lake.stage_frame(built.rows, stage, "passing")
        still_failing = lake.stage_frame(with_reject_columns(built.rejects, ctx), stage, "failing")
        key = list(spec.key)
        fresh = lake.stage_frame(passing.join(current.select(*key), key, "left_anti"), stage, "fresh")
        already = _same_row(passing, current).count()  # admitted by an earlier, interrupted readmit
        results = ctx.gate.check(f"readmit_{job.name}", spec, fresh)
        admitted = fresh.count()
        if admitted:
            lake.append(fresh, table, spec.partition_by)
        rest = lake.read(REJECTS_TABLE).where((F.col("table") == table) & (F.col("rule") != rule))
        kept = rest.unionByName(still_failing.select(*rest.columns))
        lake.replace_where(kept, REJECTS_TABLE, f"table = '{table}'", partition_by=["table"])
        failing = still_failing.count()
        passed = passing.count()
    ctx.gate.commit(f"readmit_{job.name}", table, results)
    return ReadmitResult(table, rule, candidates, admitted + already, failing, superseded=passed - admitted - already)
