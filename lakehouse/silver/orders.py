"""silver.orders: the latest version of each order, typed.

Latest by `updated_at`, ties broken by the latest ingestion; rules run on that latest version (a
rejected latest version removes the order from silver rather than resurrecting a stale status).
`order_date` is the UTC date of `order_ts` (sessions run with `spark.sql.session.timeZone=UTC`).
Increments recompute the orders that have new bronze rows, from all of those orders' rows.
An order dated after the run's latest accepted time, or before the earliest, is rejected
(`lakehouse.quality.event_time`): the bounds come in as an argument.

Referential integrity: an order whose customer never existed (no extract of it in
bronze.customers and no erasure request: a `customer_id` the app database never had, or none) is
rejected whole as `customer_unknown`; one with an item whose product never existed (not in any
extract of bronze.products) as `product_unknown`. The order then reaches neither silver nor gold:
its lines find no order (`order_unknown` in silver.order_lines) and no customer is made of it. A
customer or product that existed and was deleted or erased keeps its orders (silver.customers
keeps its history; a customer erased before any extract has only its erasure request). Both are
judged on bronze, not on silver: a customer or product whose rows silver rejects still existed, and
its order lines are rejected by silver.order_lines until it is fixed. Increments recompute the
orders a newly extracted customer, product, erasure request or item reaches, so they reject the
same orders as a rebuild.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.quality.event_time import TimeBounds, bind_time_rules, in_future, too_early
from lakehouse.quality.rules import (
    CURRENCY_CODE,
    Built,
    Rule,
    conform,
    json_struct,
    keep_first,
    not_in,
    not_matching,
    parse_text_timestamp,
    split_rejects,
)
from lakehouse.tables import ByGroups, TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "order_id": "the order (app database id)",
    "customer_id": "the customer who placed it",
    "status": "placed, shipped, delivered or cancelled (latest version)",
    "currency": "currency of the order's prices (ISO 4217)",
    "order_ts": "when the order was placed (UTC)",
    "order_date": "UTC date of order_ts",
    "updated_at": "when the app last changed the order (UTC)",
}
SCHEMA = StructType(
    [
        StructField("order_id", LongType()),
        StructField("customer_id", LongType()),
        StructField("status", StringType()),
        StructField("currency", StringType()),
        StructField("order_ts", TimestampType()),
        StructField("order_date", DateType()),
        StructField("updated_at", TimestampType()),
    ]
)
STATUSES = ("placed", "shipped", "delivered", "cancelled")
RULES = [
    Rule("order_id_missing", "order_id IS NULL"),
    # Missing or unreadable: either way the order cannot be dated.
    Rule("order_ts_missing", "order_ts IS NULL"),
    Rule("status_unknown", not_in("status", STATUSES)),
    Rule("currency_invalid", not_matching("currency", CURRENCY_CODE)),
    Rule("customer_unknown", "_customer_existed IS NULL"),  # none, or one that never existed
    Rule("product_unknown", "_product_missing IS NOT NULL"),
    Rule("order_ts_in_future", in_future("order_ts")),
    Rule("order_ts_too_early", too_early("order_ts")),
]
_PAYLOAD = "_bronze"
SPEC = TableSpec(
    name="silver.orders",
    key=("order_id",),
    comments=COMMENTS,
    schema=SCHEMA,
    # An increment replaces the dates of the orders it recomputes (the day's and those whose status
    # moved), not the whole table; readers by date (the funnel, order lines' changes) read only theirs.
    partition_by=("order_date",),
    date_column="order_date",  # increments record the dates they touched; backfills replace whole dates
    fresh_by="order_ts",  # source freshness (a warning) is the age of the newest `order_ts` at the run date
    inputs=frozen({
        "bronze_orders": "bronze.orders",
        "bronze_order_items": "bronze.order_items",
        "bronze_customers": "bronze.customers",
        "bronze_erasures": "bronze.erasure_requests",
        "bronze_products": "bronze.products",
    }),
    # Increments: orders are recomputed whole, from every bronze row of theirs.
    incremental=ByGroups(
        source="bronze.orders",
        group_key="order_id",
        keyed_inputs=("bronze.orders", "bronze.order_items"),
        # Per input, the columns whose change can move an order: which customers and products exist, and
        # the batches of items landed (`_ingested_at`: a handful of values, cheap to compare).
        tracked=frozen({
            "bronze.order_items": ("_ingested_at",),
            "bronze.customers": ("customer_id",),
            "bronze.erasure_requests": ("customer_id",),
            "bronze.products": ("product_id",),
        }),
    ),
    rules=tuple(RULES),
)


def build_orders(
    bronze_orders: DataFrame,
    bronze_order_items: DataFrame | None = None,
    bronze_customers: DataFrame | None = None,
    bronze_erasures: DataFrame | None = None,
    bronze_products: DataFrame | None = None,
    *,
    bounds: TimeBounds,
) -> Built:
    """bronze.orders (+ the items, customers, erasure requests and products the app database
    ever had) → silver.orders (latest version per order_id) and its rejects. Without the other
    inputs, references are not checked; orders dated outside `bounds` are rejected."""
    typed = (
        bronze_orders.withColumn(_PAYLOAD, json_struct(bronze_orders))
        .withColumn("order_ts", parse_text_timestamp("order_ts"))
        .withColumn("updated_at", parse_text_timestamp("updated_at"))
        .withColumn("order_date", F.to_date("order_ts"))
    )
    order = [F.col("updated_at").desc_nulls_last(), F.col("_ingested_at").desc_nulls_last()]
    latest = keep_first(typed, ["order_id"], order)
    referenced = _with_references(latest, bronze_order_items, bronze_customers, bronze_erasures, bronze_products)
    checked = split_rejects(referenced, SPEC.name, bind_time_rules(RULES, bounds), payload=_PAYLOAD)
    return checked.map_rows(lambda rows: conform(rows, SCHEMA))


def _with_references(
    orders: DataFrame,
    items: DataFrame | None,
    customers: DataFrame | None,
    erasures: DataFrame | None,
    products: DataFrame | None,
) -> DataFrame:
    """`_customer_existed` (true, or null when the customer never existed) and `_product_missing`
    (non-null when an item of the order names a product that never existed). Both pass when the
    inputs are not given."""
    if customers is None:
        return orders.withColumn("_customer_existed", F.lit(True)).withColumn("_product_missing", F.lit(None))
    ids = customers.select(F.col("customer_id").cast(LongType()).alias("customer_id"))
    if erasures is not None:
        ids = ids.unionByName(erasures.select(F.col("customer_id").cast(LongType()).alias("customer_id")))
    existed = ids.where(F.col("customer_id").isNotNull()).distinct().withColumn("_customer_existed", F.lit(True))
    flagged = orders.join(existed, "customer_id", "left")
    if items is None or products is None:
        return flagged.withColumn("_product_missing", F.lit(None))
    known = products.where(F.col("product_id").isNotNull()).select("product_id").distinct()
    missing = (
        items.where(F.col("order_id").isNotNull() & F.col("product_id").isNotNull())
        .select("order_id", "product_id")
        .join(known, "product_id", "left_anti")
        .groupBy("order_id")
        .agg(F.min("product_id").alias("_product_missing"))
    )
    return flagged.join(missing, "order_id", "left")


def affected_groups(
    new_orders: DataFrame,
    changed: Mapping[str, DataFrame],
    inputs: Mapping[str, DataFrame],
    previous: Mapping[str, DataFrame],
) -> DataFrame:
    """The orders an increment recomputes (one distinct `order_id` column): those with bronze rows
    landed since the last run; with items landed since (or gone); of a customer whose existence
    may have changed (a new extract or erasure request); with an item of a product newly extracted."""
    parts = [new_orders.select("order_id")]
    orders = inputs.get("bronze.orders")
    items = inputs.get("bronze.order_items")
    if items is not None and "bronze.order_items" in changed:
        batches = changed["bronze.order_items"].select("_ingested_at").distinct()
        parts.append(items.join(batches, "_ingested_at", "left_semi").select("order_id"))
    if orders is not None:
        for table in ("bronze.customers", "bronze.erasure_requests"):
            if table in changed:
                people = changed[table].select(F.col("customer_id").cast(LongType()).alias("customer_id")).distinct()
                parts.append(orders.join(people, "customer_id", "left_semi").select("order_id"))
    if items is not None and "bronze.products" in changed:
        products = changed["bronze.products"].select("product_id").distinct()
        parts.append(items.join(products, "product_id", "left_semi").select("order_id"))
    return reduce(DataFrame.unionByName, parts).distinct()
