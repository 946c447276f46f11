"""silver.sales_targets: the operators' latest upload of monthly revenue targets, typed.

Only the latest upload counts (the CSV is re-uploaded whole): the batch with the latest
`_ingested_at`, ties broken by the greatest `_batch_id`. Values are trimmed and the country is
upper-cased (`de ` is `DE`); `month` (`YYYY-MM`) gives `month_start`, its first day. A country and
month given twice keeps its first line (lowest `_line_no`) among the lines that pass the other
rules; the later ones are rejected as `duplicate_target`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DoubleType, StringType, StructField, StructType

from lakehouse.quality.rules import (
    COUNTRY_CODE,
    YEAR_MONTH,
    Built,
    Rule,
    combine,
    conform,
    json_struct,
    not_matching,
    split_rejects,
)
from lakehouse.tables import TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "country": "ISO 3166 alpha-2, upper case",
    "month": "the target's month, YYYY-MM",
    "month_start": "first day of month",
    "target_revenue_eur": "revenue target for the country and month, in EUR",
}
SCHEMA = StructType(
    [
        StructField("country", StringType()),
        StructField("month", StringType()),
        StructField("month_start", DateType()),
        StructField("target_revenue_eur", DoubleType()),
    ]
)
RULES = [
    Rule("country_invalid", not_matching("country", COUNTRY_CODE)),
    Rule("month_invalid", "month_start IS NULL"),
    Rule("target_not_numeric", "target_revenue_eur IS NULL"),
]
SPEC = TableSpec(
    name="silver.sales_targets",
    key=("country", "month"),
    comments=COMMENTS,
    schema=SCHEMA,
    inputs=frozen({"bronze_targets": "bronze.sales_targets"}),
    rules=tuple(RULES),
)
# A plain decimal number (`1000`, `-5`, `12.5`, `1e6`): not `12k`, `1,000`, `NaN` or `Infinity`,
# which a double cast would accept or read differently per engine.
NUMBER = r"\A[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\z"
DUPLICATE = Rule("duplicate_target", "_line_rank > 1")
_PAYLOAD = "_bronze"


def latest_upload(bronze_targets: DataFrame) -> DataFrame:
    """The rows of the most recent upload."""
    uploads = bronze_targets.groupBy("_batch_id").agg(F.max("_ingested_at").alias("_uploaded_at"))
    newest = uploads.orderBy(F.col("_uploaded_at").desc_nulls_last(), F.col("_batch_id").desc_nulls_last()).limit(1)
    return bronze_targets.join(newest.select("_batch_id"), "_batch_id", "left_semi")


def _typed(upload: DataFrame) -> DataFrame:
    month, target = F.trim("month"), F.trim("target_revenue_eur")
    start = F.to_date(F.try_to_timestamp(F.concat(month, F.lit("-01")), F.lit("yyyy-MM-dd")))
    return (
        upload.withColumn(_PAYLOAD, json_struct(upload))
        .withColumn("country", F.upper(F.trim("country")))
        .withColumn("month_start", F.when(month.rlike(YEAR_MONTH), start))
        .withColumn("month", month)
        .withColumn("target_revenue_eur", F.when(target.rlike(NUMBER), target.try_cast(DoubleType())))
    )


def build_sales_targets(bronze_targets: DataFrame) -> Built:
    """bronze.sales_targets → silver.sales_targets (latest upload) and its rejects."""
    checked = split_rejects(_typed(latest_upload(bronze_targets)), SPEC.name, RULES, payload=_PAYLOAD)
    by_line = Window.partitionBy("country", "month").orderBy(F.col("_line_no").asc_nulls_last())
    ranked = checked.rows.withColumn("_line_rank", F.row_number().over(by_line))
    unique = split_rejects(ranked, SPEC.name, [DUPLICATE], payload=_PAYLOAD)
    return Built(conform(unique.rows, SCHEMA), combine(checked, unique).rejects)
