"""Key checks as Great Expectations expectations that share one grouped aggregate.

Great Expectations' own uniqueness checks (`ExpectColumnValuesToBeUnique`,
`ExpectCompoundColumnsToBeUnique`) are row-map expectations: on Spark they count every row's key
over a window partitioned by the key, then count the rows where that exceeds one. Measured on the
embedded engine, that is 0.82 s for 1 M events, against 0.16 s for one grouped aggregate, and it
was the largest part of what the quality gate cost. Each not-null check of a key column is one
more query. Here one table metric, `table.key_profile`, groups the rows by the key once and
returns the rows whose key another row shares, the rows with a null in each key column and, only
when keys are shared, up to three of them as examples. Great Expectations computes a metric once
per validation, so `ExpectKeyToBeUnique` and every `ExpectKeyColumnToNotBeNull` of one suite read
the same result.

Importing this module registers them with Great Expectations (suites on disk name them
`expect_key_to_be_unique` and `expect_key_column_to_not_be_null`, so whatever reads suites back
imports this first).
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.compatibility.pyspark import functions as F
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SparkDFExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider

METRIC = "table.key_profile"
EXAMPLES = 3


class KeyProfile(TableMetricProvider):
    """For the key `column_list`: rows sharing a key, null rows per key column, example keys."""

    metric_name = METRIC
    value_keys = ("column_list",)

    @metric_value(engine=SparkDFExecutionEngine)
    def _spark(cls, execution_engine: SparkDFExecutionEngine, metric_domain_kwargs: dict,  # noqa: N805
               metric_value_kwargs: dict, metrics: dict[str, Any], runtime_configuration: dict) -> dict[str, Any]:
        df, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        keys = list(metric_value_kwargs["column_list"])
        groups = df.groupBy(*keys).agg(F.count(F.lit(1)).alias("_rows"))
        totals = groups.agg(
            F.sum(F.when(F.col("_rows") > 1, F.col("_rows"))).alias("_shared"),
            *[F.sum(F.when(F.col(k).isNull(), F.col("_rows"))).alias(f"_null_{i}") for i, k in enumerate(keys)],
        ).first()
        shared = int(totals["_shared"] or 0) if totals else 0
        nulls = {k: int(totals[f"_null_{i}"] or 0) if totals else 0 for i, k in enumerate(keys)}
        examples = []
        if shared:
            examples = [r.asDict() for r in groups.where(F.col("_rows") > 1).select(*keys).limit(EXAMPLES).collect()]
        return {"shared_rows": shared, "null_rows": nulls, "examples": examples}


class ExpectKeyToBeUnique(BatchExpectation):
    """Expect no two rows to share their values of `column_list` (a primary key)."""

    column_list: list[str]

    metric_dependencies = (METRIC,)
    domain_keys: ClassVar[tuple[str, ...]] = ("row_condition", "condition_parser")
    success_keys = ("column_list",)
    args_keys = ("column_list",)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine: Any = None) -> dict[str, Any]:
        found = metrics[METRIC]
        rows = int(found["shared_rows"])
        return {"success": rows == 0, "result": {
            "observed_value": rows, "unexpected_count": rows, "partial_unexpected_list": found["examples"]}}


class ExpectKeyColumnToNotBeNull(BatchExpectation):
    """Expect no null in `column`, one of the key `column_list` (read from the key's profile)."""

    column_list: list[str]
    column: str

    metric_dependencies = (METRIC,)
    domain_keys: ClassVar[tuple[str, ...]] = ("row_condition", "condition_parser")
    success_keys = ("column_list", "column")
    args_keys = ("column_list", "column")

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine: Any = None) -> dict[str, Any]:
        rows = int(metrics[METRIC]["null_rows"][self.column])
        return {"success": rows == 0, "result": {"observed_value": rows, "unexpected_count": rows}}
