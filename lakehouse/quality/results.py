"""`ops.dq_results`: every check's outcome, one row per check per table per run."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.personal import PersonalData
from lakehouse.quality.checks import CheckResult
from lakehouse.storage import Lake

TABLE = "ops.dq_results"
SCHEMA = StructType(
    [
        StructField("run_id", StringType()),
        StructField("job", StringType()),
        StructField("table", StringType()),
        StructField("delta_version", LongType()),
        StructField("rule", StringType()),
        StructField("severity", StringType()),
        StructField("passed", BooleanType()),
        StructField("observed_value", StringType()),
        StructField("failing_count", LongType()),
        StructField("examples", StringType()),
        StructField("checked_at", TimestampType()),
    ]
)
# A failed check's examples are rows of the checked table, personal columns included.
PERSONAL_DATA = PersonalData(TABLE, free_text={"examples": "'[erased]'", "observed_value": "'[erased]'"}, customer=None)


def results_frame(
    results: Sequence[CheckResult], run_id: str, job: str, version: int | None, at: dt.datetime
) -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id,
            "job": job,
            "table": r.table,
            "delta_version": version,
            "rule": r.rule,
            "severity": r.severity,
            "passed": r.passed,
            "observed_value": r.observed,
            "failing_count": r.failing_count,
            "examples": json.dumps(list(r.examples)) if r.examples else None,
            "checked_at": at.replace(tzinfo=None),
        }
        for r in results
    ]
    frame = pd.DataFrame(rows, columns=SCHEMA.fieldNames())
    return frame.astype({"delta_version": "Int64", "failing_count": "Int64", "passed": "boolean"})


def history(lake: Lake, table: str | None = None) -> DataFrame | None:
    if not lake.exists(TABLE):
        return None
    frame = lake.read(TABLE)
    return frame.where(F.col("table") == table) if table else frame


def trailing_volumes(lake: Lake, runs: int) -> dict[str, list[int]]:
    """Per table, the row counts validated in its last `runs` recorded runs, newest first."""
    if not lake.exists(TABLE):
        return {}
    rows = lake.rows(TABLE, [("rule", "=", "row_volume")], ["table", "observed_value", "checked_at"])
    volumes: dict[str, list[int]] = {}
    for row in sorted(rows, key=lambda r: r["checked_at"], reverse=True):
        if row["observed_value"] is not None and len(volumes.setdefault(row["table"], [])) < runs:
            volumes[row["table"]].append(int(row["observed_value"]))
    return volumes
