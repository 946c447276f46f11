"""gold.funnel_daily on inline events and orders, expected values worked out by hand."""

from __future__ import annotations

import datetime as dt

from chispa import assert_approx_df_equality

from lakehouse.gold.funnel_daily import build_funnel_daily

EVENTS = "session_id string, event_type string, event_date date"
ORDERS = "order_id bigint, status string, order_date date"
OUT = (
    "event_date date, sessions bigint, page_views bigint, add_to_cart bigint, checkouts bigint, "
    "cart_sessions bigint, checkout_sessions bigint, orders bigint, view_to_cart_rate double, "
    "cart_to_checkout_rate double, checkout_to_order_rate double, session_to_order_rate double"
)
D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)


def test_counts_and_session_based_rates(spark) -> None:
    events = spark.createDataFrame(
        [
            ("s1", "page_view", D1), ("s1", "add_to_cart", D1), ("s1", "add_to_cart", D1), ("s1", "checkout", D1),
            ("s2", "page_view", D1), ("s2", "add_to_cart", D1),  # abandoned cart
            ("s3", "search", D1), ("s3", "page_view", D1),
            ("s4", "page_view", D2),
        ],
        EVENTS,
    )
    orders = spark.createDataFrame(
        [(1, "placed", D1), (2, "cancelled", D1), (3, "delivered", D3)], ORDERS
    )
    expected = spark.createDataFrame(
        [
            # D1: sessions 3, page_views 3, add_to_cart 3 events, checkouts 1, cart sessions {s1,s2} = 2,
            # checkout sessions {s1} = 1, orders 1 (order 2 cancelled): rates 2/3, 1/2, 1/1, 1/3
            (D1, 3, 3, 3, 1, 2, 1, 1, 2 / 3, 0.5, 1.0, 1 / 3),
            # D2: one browsing session, no cart: cart_to_checkout and checkout_to_order undefined
            (D2, 1, 1, 0, 0, 0, 0, 0, 0.0, None, None, 0.0),
            # D3: an order but no events: zero sessions, every rate undefined
            (D3, 0, 0, 0, 0, 0, 0, 1, None, None, None, None),
        ],
        OUT,
    )
    assert_approx_df_equality(build_funnel_daily(events, orders), expected, 1e-9, ignore_row_order=True,
                              ignore_nullable=True)
