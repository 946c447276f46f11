"""gold.customer_features: one row per customer who placed an order on or before the run date.

Only data dated on or before `as_of` is used (orders by order_date, events by event_date), so
features are point-in-time correct for that date.

- `first_order_date`, `last_order_date`: over all their orders, cancelled ones included (placing
  an order is what makes someone a customer);
- `orders_count`: distinct non-cancelled orders; `lifetime_value_eur`: their net EUR amount,
  rounded half-up to cents at the end (0.00 when none), DECIMAL(18,2); `avg_order_value_eur`:
  lifetime_value_eur / orders_count rounded half-up to cents, DECIMAL(18,2), null when
  orders_count is 0;
- `days_since_last_order`: as_of - last_order_date;
- `sessions_30d`: distinct sessions with events in (as_of - 30 days, as_of];
- `cart_abandon_rate_30d`: in that window, sessions with an add_to_cart but no checkout / sessions
  with an add_to_cart; null when there is no add_to_cart session;
- `country`: the current country from silver.customers (null if the customer has no current row);
- `as_of_date`: the run date. No direct identifiers (email, name, address) appear here.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import money
from lakehouse.tables import TableSpec, frozen

WINDOW_DAYS = 30
# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "customer_id": "the customer (a pseudonym: no direct identifier in this table)",
    "first_order_date": "date of their first order, cancelled ones included",
    "last_order_date": "date of their latest order on or before as_of_date, cancelled ones included",
    "orders_count": "distinct non-cancelled orders",
    "lifetime_value_eur": "net EUR amount of their non-cancelled orders, rounded half-up to cents",
    "avg_order_value_eur": "lifetime_value_eur / orders_count rounded half-up to cents; null without orders",
    "days_since_last_order": "as_of_date - last_order_date, in days",
    "sessions_30d": "distinct sessions with events in the 30 days up to as_of_date",
    "cart_abandon_rate_30d": "share of their add-to-cart sessions in those 30 days without a checkout",
    "country": "current country (ISO 3166 alpha-2) from silver.customers",
    "as_of_date": "the run date the features are computed for (point in time)",
}
SPEC = TableSpec(
    name="gold.customer_features",
    key=("customer_id",),
    comments=COMMENTS,
    inputs=frozen({
        "orders": "silver.orders",
        "order_lines": "silver.order_lines",
        "events": "silver.events",
        "customers": "silver.customers",
    }),
)


def _order_facts(orders: DataFrame, order_lines: DataFrame, as_of: dt.date) -> DataFrame:
    placed = orders.where(F.col("order_date") <= F.lit(as_of)).where(F.col("customer_id").isNotNull())
    dates = placed.groupBy("customer_id").agg(
        F.min("order_date").alias("first_order_date"),
        F.max("order_date").alias("last_order_date"),
        F.countDistinct(F.when(F.col("status") != "cancelled", F.col("order_id"))).cast("bigint").alias("orders_count"),
    )
    value = (
        order_lines.where((F.col("order_date") <= F.lit(as_of)) & (F.col("status") != "cancelled"))
        .groupBy("customer_id")
        .agg(F.sum(F.col("net_amount_eur").cast(money.NET)).alias("_value"))  # exact: order-independent
    )
    return dates.join(value, "customer_id", "left")


def _session_facts(events: DataFrame, as_of: dt.date) -> DataFrame:
    start = as_of - dt.timedelta(days=WINDOW_DAYS)
    recent = events.where(
        (F.col("event_date") > F.lit(start)) & (F.col("event_date") <= F.lit(as_of)) & F.col("customer_id").isNotNull()
    )
    sessions = recent.groupBy("customer_id", "session_id").agg(
        F.max(F.when(F.col("event_type") == "add_to_cart", 1).otherwise(0)).alias("_cart"),
        F.max(F.when(F.col("event_type") == "checkout", 1).otherwise(0)).alias("_checkout"),
    )
    return sessions.groupBy("customer_id").agg(
        F.count("*").cast("bigint").alias("sessions_30d"),
        F.sum("_cart").alias("_cart_sessions"),
        F.sum(F.when((F.col("_cart") == 1) & (F.col("_checkout") == 0), 1).otherwise(0)).alias("_abandoned"),
    )


def build_customer_features(
    orders: DataFrame, order_lines: DataFrame, events: DataFrame, customers: DataFrame, as_of: dt.date
) -> DataFrame:
    """Recency, frequency, value and recent browsing per customer, as of `as_of`."""
    current = customers.where(F.col("is_current")).select("customer_id", "country")
    joined = (
        _order_facts(orders, order_lines, as_of)
        .join(_session_facts(events, as_of), "customer_id", "left")
        .join(current, "customer_id", "left")
    )
    ltv = money.cents(F.coalesce(F.col("_value"), F.lit(0).cast(money.NET)))
    return joined.select(
        "customer_id",
        "first_order_date",
        "last_order_date",
        "orders_count",
        ltv.alias("lifetime_value_eur"),
        F.when(F.col("orders_count") > 0, money.per(ltv, F.col("orders_count"))).alias("avg_order_value_eur"),
        F.datediff(F.lit(as_of), F.col("last_order_date")).cast("int").alias("days_since_last_order"),
        F.coalesce(F.col("sessions_30d"), F.lit(0)).cast("bigint").alias("sessions_30d"),
        F.when(F.col("_cart_sessions") > 0, F.col("_abandoned") / F.col("_cart_sessions")).alias(
            "cart_abandon_rate_30d"
        ),
        "country",
        F.lit(as_of).alias("as_of_date"),
    )
