"""gold.customer_churn_scores: per customer in gold.customer_features, the champion model's
probability that they place no order in the next 60 days.

Lineage in every row: `model_name`, `model_version` (the registry version behind the `champion`
alias when the scores were computed), `scored_at`, `feature_table_version` (the Delta version of
gold.customer_features that was scored) and `as_of_date` (the features' date). Written by
`lakehouse score` (lakehouse/ml/score.py), replaced whole on each run.
"""

from __future__ import annotations

from pyspark.sql.types import DateType, DoubleType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.quality.suites import critical, expect
from lakehouse.tables import TableSpec

SCHEMA = StructType(
    [
        StructField("customer_id", LongType()),
        StructField("churn_probability", DoubleType()),
        StructField("model_name", StringType()),
        StructField("model_version", StringType()),
        StructField("scored_at", TimestampType()),
        StructField("feature_table_version", LongType()),
        StructField("as_of_date", DateType()),
    ]
)
# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "customer_id": "the customer scored (from gold.customer_features)",
    "churn_probability": "probability that the customer places no order in the next 60 days",
    "model_name": "registered model that scored it",
    "model_version": "registry version behind the champion alias when scored",
    "scored_at": "when the scores were computed (UTC)",
    "feature_table_version": "Delta version of gold.customer_features that was scored",
    "as_of_date": "the features' date",
}
# Written by the churn model's scoring (`lakehouse.ml.score`), not by a job.
SPEC = TableSpec(
    name="gold.customer_churn_scores",
    key=("customer_id",),
    comments=COMMENTS,
    schema=SCHEMA,
    expectations=(
        critical(
            expect("ExpectColumnValuesToBeBetween", column="churn_probability", min_value=0, max_value=1),
            "probability_out_of_range",
            "churn_probability IS NULL OR churn_probability < 0 OR churn_probability > 1",
        ),
        critical(expect("ExpectColumnValuesToNotBeNull", column="churn_probability"), "probability_missing"),
    ),
)
