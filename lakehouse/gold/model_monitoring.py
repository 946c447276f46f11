"""gold.model_monitoring: one row per metric per `lakehouse monitor` run, appended (history).

- `kind = feature_drift`: population stability index (PSI) of each feature, today's customers
  against those the champion was trained to score (gold.customer_features when it was trained;
  its training set for a model logged without them);
- `kind = score_drift`: PSI of today's churn scores against the champion's scores of those customers;
- `kind = performance`: realised ROC AUC of the champion on the latest window whose labels have
  matured (features as of `latest order date - horizon`, label = no order in the horizon after).
`status` is OK, WARN or ALERT against the thresholds in config (`ml.psi_*`, `ml.auc_*`).
"""

from __future__ import annotations

from pyspark.sql.types import DateType, DoubleType, StringType, StructField, StructType, TimestampType

from lakehouse.tables import TableSpec

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "run_id": "the `lakehouse monitor` run",
    "monitored_at": "when the run measured (UTC)",
    "model_name": "registered model monitored",
    "model_version": "its champion version at the time",
    "kind": "feature_drift, score_drift or performance",
    "metric": "the feature (PSI), the score (PSI) or roc_auc",
    "value": "the measured PSI or ROC AUC",
    "warn_threshold": "value at which status is WARN (config ml.*)",
    "alert_threshold": "value at which status is ALERT (config ml.*)",
    "status": "OK, WARN or ALERT",
    "as_of_date": "the features' date",
}
SCHEMA = StructType(
    [
        StructField("run_id", StringType()),
        StructField("monitored_at", TimestampType()),
        StructField("model_name", StringType()),
        StructField("model_version", StringType()),
        StructField("kind", StringType()),
        StructField("metric", StringType()),
        StructField("value", DoubleType()),
        StructField("warn_threshold", DoubleType()),
        StructField("alert_threshold", DoubleType()),
        StructField("status", StringType()),
        StructField("as_of_date", DateType()),
    ]
)
# Written by the model monitor (`lakehouse.ml.monitor`), not by a job.
SPEC = TableSpec(
    name="gold.model_monitoring",
    key=("run_id", "metric"),
    comments=COMMENTS,
    schema=SCHEMA,
)
