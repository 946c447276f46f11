"""silver.products: latest version per product, and rejects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.bronze import app_tables
from lakehouse.silver import products
from tests.unit.silver_rows import bronze, frame, rejected, ts

BRONZE_SCHEMA = app_tables.schema("products")


def product(pid: int | None, name: str, price: float | None, updated: str, day: int = 2) -> dict[str, object]:
    return {
        "product_id": pid,
        "name": name,
        "category": "dairy",
        "list_price_eur": price,
        "updated_at": updated,
        "_ingested_at": dt.datetime(2026, 1, day),
    }


BRONZE = [
    product(1, "Milk", 10.0, "2026-01-03 00:00:00", day=4),
    product(1, "Milk 1L", 12.0, "2026-01-03 00:00:01", day=3),  # later version, extracted earlier
    product(2, "Old name", 5.0, "2026-01-01 00:00:00", day=2),
    product(2, "New name", 5.0, "2026-01-01 00:00:00", day=3),  # same updated_at: latest ingestion wins
    product(3, "Cheese", 5.0, "2026-01-01 00:00:00"),
    product(3, "Cheese", -1.0, "2026-01-02 00:00:00"),  # latest version is bad: product 3 is rejected
    product(None, "Ghost", 1.0, "2026-01-01 00:00:00"),
    product(None, "Ghost 2", 1.0, "2026-01-01 00:00:00"),
    product(4, "Free sample", None, "2026-01-01 00:00:00"),
    product(5, "Gratis", 0.0, "2026-01-01 00:00:00"),
    product(6, "Fine cheese", 19.99, "2026-01-01 00:00:00"),
    product(7, "Saffron", 2.005, "2026-01-01 00:00:00"),  # a fraction of a cent: not a price
]


def test_latest_version_per_product(spark: SparkSession) -> None:
    built = products.build_products(bronze(spark, BRONZE_SCHEMA, BRONZE))
    expected = frame(
        spark,
        products.SPEC.schema,
        [
            (1, "Milk 1L", "dairy", D("12.00"), ts("2026-01-03 00:00:01")),
            (2, "New name", "dairy", D("5.00"), ts("2026-01-01 00:00:00")),
            (4, "Free sample", "dairy", None, ts("2026-01-01 00:00:00")),
            (5, "Gratis", "dairy", D("0.00"), ts("2026-01-01 00:00:00")),
            (6, "Fine cheese", "dairy", D("19.99"), ts("2026-01-01 00:00:00")),
        ],
    )
    assert_df_equality(built.rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_rejects(spark: SparkSession) -> None:
    built = products.build_products(bronze(spark, BRONZE_SCHEMA, BRONZE))
    assert rejected(built, "product_id", "name") == sorted(
        [
            ("silver.products", "price_negative", 3, "Cheese"),
            ("silver.products", "price_not_cents", 7, "Saffron"),
            ("silver.products", "product_id_missing", None, "Ghost"),
            ("silver.products", "product_id_missing", None, "Ghost 2"),
        ],
        key=repr,
    )
    spec = products.SPEC
    assert (spec.name, spec.key, spec.partition_by) == ("silver.products", ("product_id",), ())
