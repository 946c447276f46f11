"""gold.daily_sales on inline silver rows, expected values worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from lakehouse.gold.daily_sales import build_daily_sales

LINES = (
    "order_id bigint, line_no bigint, order_date date, status string, country string, category string, "
    "quantity bigint, net_amount_eur decimal(18,10)"
)
OUT = "order_date date, country string, category string, orders bigint, units bigint, revenue_eur decimal(18,2), " \
      "avg_order_value_eur decimal(18,2)"
D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


def test_revenue_is_rounded_once_at_the_end_and_cancelled_orders_do_not_count(spark) -> None:
    lines = spark.createDataFrame(
        [
            # order 1: three lines of 1/3 EUR (to 10 decimals) -> 1.00 (rounding each line first: 0.99)
            (1, 1, D1, "placed", "DE", "dairy", 1, D("0.3333333333")),
            (1, 2, D1, "placed", "DE", "dairy", 2, D("0.3333333333")),
            (1, 3, D1, "placed", "DE", "dairy", 1, D("0.3333333333")),
            # order 2, same day/country/category, shipped
            (2, 1, D1, "shipped", "DE", "dairy", 4, D("10.004")),
            (3, 1, D1, "cancelled", "DE", "dairy", 9, D("99.0")),  # ignored
            (4, 1, D1, "delivered", "DE", "meat", 1, D("5.5")),
            (4, 2, D1, "delivered", "DE", "dairy", 1, D("2.25")),  # one order in two categories
            (5, 1, D2, "placed", "ZZ", "meat", 3, D("7.005")),  # exactly half a cent: up
            (6, 1, D2, "placed", "FR", "bakery", 1, D("0.02")),
            (7, 1, D2, "placed", "FR", "bakery", 1, D("0.03")),  # 0.05 over 2 orders = 0.025: up
        ],
        LINES,
    )
    expected = [
        # dairy DE D1: orders {1,2,4} = 3, units 1+2+1+4+1 = 9,
        # revenue 0.9999999999 + 10.004 + 2.25 = 13.2539999999 -> 13.25, per order 4.41666... -> 4.42
        (D1, "DE", "dairy", 3, 9, D("13.25"), D("4.42")),
        (D1, "DE", "meat", 1, 1, D("5.50"), D("5.50")),
        (D2, "FR", "bakery", 2, 2, D("0.05"), D("0.03")),
        (D2, "ZZ", "meat", 1, 3, D("7.01"), D("7.01")),
    ]
    actual = build_daily_sales(lines)
    assert actual.schema.simpleString() == spark.createDataFrame([], OUT).schema.simpleString()
    got = sorted(tuple(r) for r in actual.collect())
    assert [tuple(map(str, r)) for r in got] == [tuple(map(str, r)) for r in expected]  # digit for digit


def test_a_day_with_only_cancelled_orders_has_no_row(spark) -> None:
    lines = spark.createDataFrame([(1, 1, D1, "cancelled", "FR", "bakery", 2, D("4.0"))], LINES)
    assert build_daily_sales(lines).count() == 0
