"""silver.orders: the latest version of each order, typed.

Latest by `updated_at`, ties broken by the latest ingestion; rules run on that latest version (a
rejected latest version removes the order from silver rather than resurrecting a stale status).
`order_date` is the UTC date of `order_ts` (sessions run with `spark.sql.session.timeZone=UTC`).
Increments recompute the orders that have new bronze rows, from all of those orders' rows.
An order dated after the run's latest accepted time, or before the earliest, is rejected
(`lakehouse.quality.event_time`): the bounds come in as an argument.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.quality.event_time import TimeBounds, bind_time_rules, in_future, too_early
from lakehouse.quality.rules import (
    CURRENCY_CODE,
    Built,
    Rule,
    conform,
    json_struct,
    keep_first,
    not_in,
    not_matching,
    parse_text_timestamp,
    split_rejects,
)

TABLE = "silver.orders"
KEY = ["order_id"]
# An increment replaces the dates of the orders it recomputes (the day's and those whose status
# moved), not the whole table; readers by date (the funnel, order lines' changes) read only theirs.
PARTITION_BY = ["order_date"]
DATE_COLUMN = "order_date"  # increments record the dates they touched; backfills replace whole dates
# Source freshness (a warning) is the age of the newest `order_ts` at the run date.
FRESH_BY = "order_ts"
SCHEMA = StructType(
    [
        StructField("order_id", LongType()),
        StructField("customer_id", LongType()),
        StructField("status", StringType()),
        StructField("currency", StringType()),
        StructField("order_ts", TimestampType()),
        StructField("order_date", DateType()),
        StructField("updated_at", TimestampType()),
    ]
)
STATUSES = ("placed", "shipped", "delivered", "cancelled")
RULES = [
    Rule("order_id_missing", "order_id IS NULL"),
    # Missing or unreadable: either way the order cannot be dated.
    Rule("order_ts_missing", "order_ts IS NULL"),
    Rule("status_unknown", not_in("status", STATUSES)),
    Rule("currency_invalid", not_matching("currency", CURRENCY_CODE)),
    Rule("order_ts_in_future", in_future("order_ts")),
    Rule("order_ts_too_early", too_early("order_ts")),
]
_PAYLOAD = "_bronze"
# Increments: orders are recomputed whole, from every bronze row of theirs.
SOURCE = "bronze.orders"
GROUP_KEY = "order_id"
KEYED_INPUTS = ("bronze.orders",)
TRACKED: dict[str, tuple[str, ...]] = {}


def build_orders(bronze_orders: DataFrame, bounds: TimeBounds) -> Built:
    """bronze.orders → silver.orders (latest version per order_id) and its rejects; orders dated
    outside `bounds` are rejected."""
    typed = (
        bronze_orders.withColumn(_PAYLOAD, json_struct(bronze_orders))
        .withColumn("order_ts", parse_text_timestamp("order_ts"))
        .withColumn("updated_at", parse_text_timestamp("updated_at"))
        .withColumn("order_date", F.to_date("order_ts"))
    )
    order = [F.col("updated_at").desc_nulls_last(), F.col("_ingested_at").desc_nulls_last()]
    latest = keep_first(typed, ["order_id"], order)
    checked = split_rejects(latest, TABLE, bind_time_rules(RULES, bounds), payload=_PAYLOAD)
    return checked.map_rows(lambda rows: conform(rows, SCHEMA))


def affected_groups(
    new_orders: DataFrame,
    changed: Mapping[str, DataFrame],
    inputs: Mapping[str, DataFrame],
    previous: Mapping[str, DataFrame],
) -> DataFrame:
    """The orders an increment recomputes: those with bronze rows landed since the last run."""
    return new_orders.select("order_id").distinct()
