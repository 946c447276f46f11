"""gold.daily_sales on inline silver rows, expected values worked out by hand."""

from __future__ import annotations

import datetime as dt

from chispa import assert_approx_df_equality

from lakehouse.gold.daily_sales import build_daily_sales

LINES = (
    "order_id bigint, line_no bigint, order_date date, status string, country string, category string, "
    "quantity bigint, net_amount_eur double"
)
OUT = "order_date date, country string, category string, orders bigint, units bigint, revenue_eur double, " \
      "avg_order_value_eur double"
D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


def test_revenue_is_rounded_once_at_the_end_and_cancelled_orders_do_not_count(spark) -> None:
    lines = spark.createDataFrame(
        [
            # order 1: three lines of 1/3 EUR -> 1.00 (rounding each line first would give 0.99)
            (1, 1, D1, "placed", "DE", "dairy", 1, 1 / 3),
            (1, 2, D1, "placed", "DE", "dairy", 2, 1 / 3),
            (1, 3, D1, "placed", "DE", "dairy", 1, 1 / 3),
            # order 2, same day/country/category, shipped
            (2, 1, D1, "shipped", "DE", "dairy", 4, 10.004),
            (3, 1, D1, "cancelled", "DE", "dairy", 9, 99.0),  # ignored
            (4, 1, D1, "delivered", "DE", "meat", 1, 5.5),
            (4, 2, D1, "delivered", "DE", "dairy", 1, 2.25),  # one order in two categories
            (5, 1, D2, "placed", "ZZ", "meat", 3, 7.0),
        ],
        LINES,
    )
    expected = spark.createDataFrame(
        [
            # dairy DE D1: orders {1,2,4} = 3, units 1+2+1+4+1 = 9, revenue 1 + 10.004 + 2.25 = 13.254 -> 13.25
            (D1, "DE", "dairy", 3, 9, 13.25, 13.25 / 3),
            (D1, "DE", "meat", 1, 1, 5.5, 5.5),
            (D2, "ZZ", "meat", 1, 3, 7.0, 7.0),
        ],
        OUT,
    )
    assert_approx_df_equality(build_daily_sales(lines), expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_a_day_with_only_cancelled_orders_has_no_row(spark) -> None:
    lines = spark.createDataFrame([(1, 1, D1, "cancelled", "FR", "bakery", 2, 4.0)], LINES)
    assert build_daily_sales(lines).count() == 0
