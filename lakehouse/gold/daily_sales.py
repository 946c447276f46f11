"""gold.daily_sales: one row per (order_date, country, category).

- `orders`: distinct non-cancelled orders; `units`: sum of quantity;
- `revenue_eur`: sum of `net_amount_eur` (quantity * unit_price * (1 - discount) / the order
  date's rate, unrounded in silver) over non-cancelled lines, rounded to cents at the end;
- `avg_order_value_eur`: revenue_eur / orders (not rounded further).

`country` is the customer's country at the time of the order (`ZZ` when the customer never
reached the lake, see docs/architecture.md).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.quality.suites import critical, expect

TABLE = "gold.daily_sales"
KEY = ["order_date", "country", "category"]
PARTITION_BY: list[str] = []
DATE_COLUMN = "order_date"  # incremental runs and backfills replace whole dates
SOURCE_DATES = {"silver.order_lines": "order_date"}  # the input and its date column
# Sums of doubles depend on the order rows arrive in, and a cent can flip when rounding; a decimal
# sum is exact, so the same lines always give the same revenue.
EXACT = "decimal(38,12)"
EXPECTATIONS = [
    critical(
        expect("ExpectColumnMinToBeBetween", column="revenue_eur", min_value=0), "revenue_negative", "revenue_eur < 0"
    ),
]


def build_daily_sales(order_lines: DataFrame) -> DataFrame:
    """Aggregate non-cancelled order lines per day, country and category."""
    sold = order_lines.where(F.col("status") != "cancelled")
    totals = sold.groupBy(*KEY).agg(
        F.countDistinct("order_id").cast("bigint").alias("orders"),
        F.sum("quantity").cast("bigint").alias("units"),
        F.round(F.sum(F.col("net_amount_eur").cast(EXACT)), 2).cast("double").alias("revenue_eur"),
    )
    return totals.withColumn("avg_order_value_eur", F.col("revenue_eur") / F.col("orders"))
