"""gold.funnel_daily: the storefront funnel per event_date.

- `sessions`: distinct session_id with any event that day;
- `page_views`, `add_to_cart`, `checkouts`: event counts of each type;
- `cart_sessions`, `checkout_sessions`: sessions with at least one add_to_cart / checkout;
- `orders`: distinct non-cancelled orders whose order_date is that day (0 when none);
- rates, each null when its denominator is 0:
  `view_to_cart_rate` = cart_sessions / sessions, `cart_to_checkout_rate` = checkout_sessions /
  cart_sessions, `checkout_to_order_rate` = orders / checkout_sessions, `session_to_order_rate` =
  orders / sessions.

Session-based rates are used because a shopper adds many items to one cart: event counts would
overstate conversion. A day with orders but no events still appears, with zero sessions.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.tables import ByDates, TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "event_date": "UTC date of the events",
    "sessions": "distinct sessions with any event that day",
    "page_views": "page_view events",
    "add_to_cart": "add_to_cart events",
    "checkouts": "checkout events",
    "cart_sessions": "sessions with at least one add_to_cart",
    "checkout_sessions": "sessions with at least one checkout",
    "orders": "distinct non-cancelled orders placed that day",
    "view_to_cart_rate": "cart_sessions / sessions; null when there is no session",
    "cart_to_checkout_rate": "checkout_sessions / cart_sessions; null when there is no cart session",
    "checkout_to_order_rate": "orders / checkout_sessions; null when there is no checkout session",
    "session_to_order_rate": "orders / sessions; null when there is no session",
}
SPEC = TableSpec(
    name="gold.funnel_daily",
    key=("event_date",),
    comments=COMMENTS,
    date_column="event_date",  # incremental runs and backfills replace whole dates
    inputs=frozen({"events": "silver.events", "orders": "silver.orders"}),
    # the inputs' date columns: a row only counts on its own date
    incremental=ByDates(frozen({"silver.events": "event_date", "silver.orders": "order_date"})),
)


def _count_type(event_type: str) -> Column:
    return F.sum(F.when(F.col("event_type") == event_type, 1).otherwise(0)).cast("bigint")


def _sessions_with(event_type: str) -> Column:
    return F.countDistinct(F.when(F.col("event_type") == event_type, F.col("session_id"))).cast("bigint")


def _ratio(numerator: str, denominator: str) -> Column:
    return F.when(F.col(denominator) > 0, F.col(numerator) / F.col(denominator))


def build_funnel_daily(events: DataFrame, orders: DataFrame) -> DataFrame:
    """Daily sessions, step counts, orders and step-to-step conversion rates."""
    steps = events.groupBy("event_date").agg(
        F.countDistinct("session_id").cast("bigint").alias("sessions"),
        _count_type("page_view").alias("page_views"),
        _count_type("add_to_cart").alias("add_to_cart"),
        _count_type("checkout").alias("checkouts"),
        _sessions_with("add_to_cart").alias("cart_sessions"),
        _sessions_with("checkout").alias("checkout_sessions"),
    )
    daily_orders = (
        orders.where(F.col("status") != "cancelled")
        .groupBy(F.col("order_date").alias("event_date"))
        .agg(F.countDistinct("order_id").cast("bigint").alias("orders"))
    )
    counts = ["sessions", "page_views", "add_to_cart", "checkouts", "cart_sessions", "checkout_sessions", "orders"]
    joined = steps.join(daily_orders, "event_date", "full_outer").fillna(0, subset=counts)
    return joined.select(
        "event_date",
        *[F.col(c).cast("bigint").alias(c) for c in counts],
        _ratio("cart_sessions", "sessions").alias("view_to_cart_rate"),
        _ratio("checkout_sessions", "cart_sessions").alias("cart_to_checkout_rate"),
        _ratio("orders", "checkout_sessions").alias("checkout_to_order_rate"),
        _ratio("orders", "sessions").alias("session_to_order_rate"),
    )
