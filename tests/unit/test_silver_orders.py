"""silver.orders: latest version per order, typed, and rejects."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.bronze import app_tables
from lakehouse.quality.event_time import TimeBounds
from lakehouse.silver import orders
from tests.unit.silver_rows import BOUNDS, bronze, day, frame, rejected, ts

BRONZE_SCHEMA = app_tables.schema("orders")


def order(
    oid: int | None,
    status: str | None,
    currency: str | None,
    order_ts: str | None,
    updated: str,
    customer: int | None = 1,
    ingested: int = 2,
) -> dict[str, object]:
    return {
        "order_id": oid,
        "customer_id": customer,
        "status": status,
        "currency": currency,
        "order_ts": order_ts,
        "updated_at": updated,
        "_ingested_at": dt.datetime(2026, 1, ingested),
    }


BRONZE = [
    order(10, "placed", "EUR", "2026-01-01 23:59:59", "2026-01-01 23:59:59"),
    order(10, "shipped", "EUR", "2026-01-01 23:59:59", "2026-01-02 08:00:00", ingested=3),
    order(10, "placed", "EUR", "2026-01-01 23:59:59", "2026-01-01 23:59:59", ingested=4),  # re-extract of old
    order(11, "lost", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00"),
    order(12, "placed", "eur", "2026-01-01 10:00:00", "2026-01-01 10:00:00"),
    order(13, "placed", "EUR", None, "2026-01-01 10:00:00"),
    order(14, "placed", "EUR", "2026-01-01T00:00:00", "2026-01-01 10:00:00"),
    order(15, None, "EURO", "2026-01-01 10:00:00", "2026-01-01 10:00:00"),
    order(16, "cancelled", "USD", "2026-01-02 00:00:00", "2026-01-03 00:00:00", customer=None),
    order(None, "placed", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00"),
    # an order whose latest version is broken is not resurrected from an older one
    order(17, "placed", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00"),
    order(17, "returned", "EUR", "2026-01-01 10:00:00", "2026-01-02 10:00:00"),
]


def test_latest_version_per_order(spark: SparkSession) -> None:
    built = orders.build_orders(bronze(spark, BRONZE_SCHEMA, BRONZE), bounds=BOUNDS)
    expected = frame(
        spark,
        orders.SPEC.schema,
        [
            (10, 1, "shipped", "EUR", ts("2026-01-01 23:59:59"), day("2026-01-01"), ts("2026-01-02 08:00:00")),
            (16, None, "cancelled", "USD", ts("2026-01-02 00:00:00"), day("2026-01-02"), ts("2026-01-03 00:00:00")),
        ],
    )
    assert_df_equality(built.rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_rejects(spark: SparkSession) -> None:
    built = orders.build_orders(bronze(spark, BRONZE_SCHEMA, BRONZE), bounds=BOUNDS)
    assert rejected(built, "order_id", "order_ts") == sorted(
        [
            ("silver.orders", "status_unknown", 11, "2026-01-01 10:00:00"),
            ("silver.orders", "currency_invalid", 12, "2026-01-01 10:00:00"),
            ("silver.orders", "order_ts_missing", 13, None),
            ("silver.orders", "order_ts_missing", 14, "2026-01-01T00:00:00"),
            ("silver.orders", "status_unknown", 15, "2026-01-01 10:00:00"),  # also a bad currency: first rule wins
            ("silver.orders", "order_id_missing", None, "2026-01-01 10:00:00"),
            ("silver.orders", "status_unknown", 17, "2026-01-01 10:00:00"),
        ],
        key=repr,
    )
    spec = orders.SPEC
    assert (spec.name, spec.key, spec.partition_by) == ("silver.orders", ("order_id",), ("order_date",))


def test_orders_dated_in_the_future_or_too_early_are_rejected(spark: SparkSession) -> None:
    bounds = TimeBounds(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC))
    rows = [
        order(20, "placed", "EUR", "2000-01-01 00:00:00", "2026-01-01 10:00:00"),  # the earliest time accepted
        order(21, "placed", "EUR", "2026-01-10 12:00:00", "2026-01-10 12:00:00"),  # the latest time accepted
        order(22, "placed", "EUR", "2026-01-10 12:00:01", "2026-01-10 12:00:01"),  # a second later
        order(23, "placed", "EUR", "2027-02-14 09:00:00", "2026-01-01 10:00:00"),  # 400 days on
        order(24, "placed", "EUR", "1999-12-31 23:59:59", "2026-01-01 10:00:00"),  # a second before the earliest
        order(25, "placed", "EURO", "2027-02-14 09:00:00", "2026-01-01 10:00:00"),  # bad currency: listed first
        # its latest version moves the order into the future: the order leaves silver
        order(26, "placed", "EUR", "2026-01-05 10:00:00", "2026-01-05 10:00:00"),
        order(26, "placed", "EUR", "2036-01-05 10:00:00", "2026-01-06 10:00:00"),
    ]
    built = orders.build_orders(bronze(spark, BRONZE_SCHEMA, rows), bounds=bounds)
    assert sorted(r["order_id"] for r in built.rows.collect()) == [20, 21]
    assert rejected(built, "order_id", "order_ts") == sorted(
        [
            ("silver.orders", "order_ts_in_future", 22, "2026-01-10 12:00:01"),
            ("silver.orders", "order_ts_in_future", 23, "2027-02-14 09:00:00"),
            ("silver.orders", "order_ts_too_early", 24, "1999-12-31 23:59:59"),
            ("silver.orders", "currency_invalid", 25, "2027-02-14 09:00:00"),
            ("silver.orders", "order_ts_in_future", 26, "2036-01-05 10:00:00"),
        ],
        key=repr,
    )


def test_an_order_whose_customer_or_product_never_existed_is_rejected_whole(spark: SparkSession) -> None:
    bronze_orders = bronze(spark, BRONZE_SCHEMA, [
        order(20, "placed", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00", customer=1),
        order(21, "placed", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00", customer=999999),  # phantom
        # created and erased between two extracts: only the erasure request reached the lake
        order(22, "placed", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00", customer=5),
        order(23, "placed", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00", customer=1),  # product 777
        order(24, "placed", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00", customer=None),
        order(25, "placed", "EUR", "2026-01-01 10:00:00", "2026-01-01 10:00:00", customer=2),  # deleted since
    ])
    items = bronze(spark, app_tables.schema("order_items"), [
        {"order_id": oid, "line_no": line, "product_id": pid, "quantity": 1, "unit_price": 1.0, "discount": 0.0,
         "updated_at": "2026-01-01 10:00:00"}
        for oid, line, pid in [(20, 1, 500), (21, 1, 500), (22, 1, 500), (23, 1, 500), (23, 2, 777), (25, 1, 501)]
    ])
    customers = bronze(spark, app_tables.schema("customers"), [
        {"customer_id": 1, "country": "DE", "updated_at": "2026-01-01 00:00:00"},
        {"customer_id": 2, "country": "FR", "updated_at": "2026-01-01 00:00:00"},
    ])
    erasures = bronze(spark, app_tables.schema("erasure_requests"), [{"customer_id": 5}])
    products = bronze(spark, app_tables.schema("products"), [{"product_id": 500}, {"product_id": 501}])
    built = orders.build_orders(bronze_orders, items, customers, erasures, products, bounds=BOUNDS)
    assert sorted(r["order_id"] for r in built.rows.collect()) == [20, 22, 25]
    assert rejected(built, "order_id", "customer_id") == sorted(
        [
            ("silver.orders", "customer_unknown", 21, 999999),
            ("silver.orders", "product_unknown", 23, 1),
            ("silver.orders", "customer_unknown", 24, None),
        ],
        key=repr,
    )
