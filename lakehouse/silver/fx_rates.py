"""silver.fx_rates: one rate per (rate_date, currency), in units of currency per 1 EUR.

Deduplicated on (rate_date, currency), keeping the latest ingestion (a re-fetch corrects a
day); rules run on the row kept. `rate` is DECIMAL(18,8) (`lakehouse/money.py`); a rate that
type cannot hold exactly (more than 8 decimals, too large) is rejected as `rate_not_exact`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, StructField, StructType

from lakehouse import money
from lakehouse.quality.rules import (
    CURRENCY_CODE,
    Built,
    Rule,
    conform,
    json_struct,
    keep_first,
    not_matching,
    parse_date,
    split_rejects,
)
from lakehouse.tables import TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "rate_date": "the day of the rate",
    "currency": "ISO 4217 code",
    "rate": "units of currency per 1 EUR (the latest landing of that day)",
}
SCHEMA = StructType(
    [
        StructField("rate_date", DateType()),
        StructField("currency", StringType()),
        StructField("rate", money.RATE),
    ]
)
RULES = [
    Rule("rate_date_invalid", "rate_date IS NULL"),
    Rule("currency_invalid", not_matching("currency", CURRENCY_CODE)),
    Rule("rate_not_positive", "rate IS NULL OR isnan(rate) OR rate <= 0"),
    Rule("rate_not_exact", money.not_exactly("rate", money.RATE)),
]
SPEC = TableSpec(
    name="silver.fx_rates",
    key=("rate_date", "currency"),
    comments=COMMENTS,
    schema=SCHEMA,
    fresh_by="rate_date",  # source freshness (a warning) is the age of the newest `rate_date` at the run date
    inputs=frozen({"bronze_fx": "bronze.fx_rates"}),
    rules=tuple(RULES),
)
_PAYLOAD = "_bronze"


def build_fx_rates(bronze_fx: DataFrame) -> Built:
    """bronze.fx_rates → silver.fx_rates and its rejects."""
    typed = bronze_fx.withColumn(_PAYLOAD, json_struct(bronze_fx)).withColumn("rate_date", parse_date("date"))
    latest = keep_first(typed, ["rate_date", "currency"], [F.col("_ingested_at").desc_nulls_last()])
    checked = split_rejects(latest, SPEC.name, RULES, payload=_PAYLOAD)
    return checked.map_rows(lambda rows: conform(rows.withColumn("rate", money.as_decimal("rate", money.RATE)), SCHEMA))
