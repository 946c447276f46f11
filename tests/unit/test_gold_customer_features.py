"""gold.customer_features on inline silver rows as of a run date, expected values worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from lakehouse.gold.customer_features import build_customer_features

ORDERS = "order_id bigint, customer_id bigint, status string, order_date date"
LINES = "order_id bigint, customer_id bigint, status string, order_date date, net_amount_eur decimal(18,10)"
EVENTS = "customer_id bigint, session_id string, event_type string, event_date date"
CUSTOMERS = "customer_id bigint, country string, is_current boolean"
OUT = (
    "customer_id bigint, first_order_date date, last_order_date date, orders_count bigint, "
    "lifetime_value_eur decimal(18,2), avg_order_value_eur decimal(18,2), days_since_last_order int, "
    "sessions_30d bigint, "
    "cart_abandon_rate_30d double, country string, as_of_date date"
)
AS_OF = dt.date(2026, 3, 31)


def d(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


def test_features_as_of_the_run_date(spark) -> None:
    orders = spark.createDataFrame(
        [
            (1, 100, "delivered", d(1, 10)),
            (2, 100, "placed", d(3, 21)),
            (3, 100, "cancelled", d(3, 25)),  # counts for last_order_date, not for value
            (4, 100, "placed", d(4, 2)),  # after the run date: ignored entirely
            (5, 200, "cancelled", d(2, 1)),  # customer 200 only ever cancelled
            (6, None, "placed", d(2, 1)),  # no customer: no row
        ],
        ORDERS,
    )
    lines = spark.createDataFrame(
        [
            (1, 100, "delivered", d(1, 10), D("10.254")), (1, 100, "delivered", d(1, 10), D("5.0")),
            (2, 100, "placed", d(3, 21), D("4.0")),
            (3, 100, "cancelled", d(3, 25), D("50.0")),
            (4, 100, "placed", d(4, 2), D("70.0")),
            (5, 200, "cancelled", d(2, 1), D("8.0")),
        ],
        LINES,
    )
    events = spark.createDataFrame(
        [
            ("a", "page_view", d(3, 2)), ("a", "add_to_cart", d(3, 2)),  # abandoned, in the window
            ("b", "add_to_cart", d(3, 21)), ("b", "checkout", d(3, 21)),  # converted
            ("c", "page_view", d(3, 31)),  # browsing only, on the run date
            ("old", "add_to_cart", d(3, 1)),  # exactly 30 days before: outside (as_of - 30, as_of]
            ("late", "add_to_cart", d(4, 1)),  # after the run date
        ],
        "session_id string, event_type string, event_date date",
    ).selectExpr("100L AS customer_id", "session_id", "event_type", "event_date")
    customers = spark.createDataFrame(
        [(100, "DE", False), (100, "FR", True), (200, None, True)], CUSTOMERS
    )
    expected = spark.createDataFrame(
        [
            # 100: orders 1, 2 -> 2; value 10.254 + 5.0 + 4.0 = 19.254 -> 19.25, avg 19.25 / 2 = 9.625 -> 9.63
            # (half-up);
            # last order 3/25 (cancelled, still placed) -> 6 days; sessions a, b, c = 3;
            # cart sessions a, b, one abandoned -> 0.5; country: the current row
            (100, d(1, 10), d(3, 25), 2, D("19.25"), D("9.63"), 6, 3, 0.5, "FR", AS_OF),
            # 200: only a cancelled order: 0 orders, no value, no average; 2/1 -> 3/31 is 58 days
            (200, d(2, 1), d(2, 1), 0, D("0.00"), None, 58, 0, None, None, AS_OF),
        ],
        OUT,
    )
    actual = build_customer_features(orders, lines, events, customers, AS_OF)
    assert actual.schema.simpleString() == expected.schema.simpleString()
    assert sorted(map(str, actual.collect())) == sorted(map(str, expected.collect()))
