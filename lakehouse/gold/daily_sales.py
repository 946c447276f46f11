"""gold.daily_sales: one row per (order_date, country, category).

- `orders`: distinct non-cancelled orders; `units`: sum of quantity;
- `revenue_eur`: sum of `net_amount_eur` (quantity * unit_price * (1 - discount) / the order
  date's rate, to 10 decimals in silver) over non-cancelled lines, rounded half-up to cents at
  the end, DECIMAL(18,2);
- `avg_order_value_eur`: revenue_eur / orders rounded half-up to cents, DECIMAL(18,2).

Decimal sums are exact, so the same lines give the same revenue whatever order they arrive in,
on both engines (see `lakehouse/money.py`).

`country` is the customer's country at the time of the order (`ZZ` when the customer never
reached the lake, see docs/architecture.md).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import money
from lakehouse.quality.suites import critical, expect
from lakehouse.tables import ByDates, TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "order_date": "UTC date the orders were placed",
    "country": "the customer's country (ISO 3166 alpha-2) at the time of the order; ZZ when unknown",
    "category": "product category",
    "orders": "distinct non-cancelled orders",
    "units": "units sold (sum of quantity) on non-cancelled orders",
    "revenue_eur": "net revenue in EUR at each order date's FX rate, rounded half-up to cents at the end",
    "avg_order_value_eur": "revenue_eur / orders, rounded half-up to cents",
}
SPEC = TableSpec(
    name="gold.daily_sales",
    key=("order_date", "country", "category"),
    comments=COMMENTS,
    date_column="order_date",  # incremental runs and backfills replace whole dates
    inputs=frozen({"order_lines": "silver.order_lines"}),
    incremental=ByDates(frozen({"silver.order_lines": "order_date"})),
    expectations=(
        critical(
            expect("ExpectColumnMinToBeBetween", column="revenue_eur", min_value=0),
            "revenue_negative",
            "revenue_eur < 0",
        ),
    ),
)


def build_daily_sales(order_lines: DataFrame) -> DataFrame:
    """Aggregate non-cancelled order lines per day, country and category."""
    sold = order_lines.where(F.col("status") != "cancelled")
    totals = sold.groupBy(*SPEC.key).agg(
        F.countDistinct("order_id").cast("bigint").alias("orders"),
        F.sum("quantity").cast("bigint").alias("units"),
        money.cents(F.sum(F.col("net_amount_eur").cast(money.NET))).alias("revenue_eur"),
    )
    return totals.withColumn("avg_order_value_eur", money.per(F.col("revenue_eur"), F.col("orders")))
