"""silver.products: the latest version of each product.

Latest by `updated_at`, ties broken by the latest ingestion. Rules run on that latest version:
when it is rejected the product is absent from silver (an older version is not resurrected), and
its order lines are rejected as `product_unknown` until a good version arrives.
`list_price_eur` may be null (it is informational: revenue uses the order line's `unit_price`);
it is DECIMAL(18,2), and a price that type cannot hold exactly is rejected (`price_not_cents`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from lakehouse import money
from lakehouse.quality.rules import Built, Rule, conform, json_struct, keep_first, parse_text_timestamp, split_rejects
from lakehouse.tables import TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "product_id": "the product (app database id)",
    "name": "product name",
    "category": "product category",
    "list_price_eur": "list price in EUR; informational (revenue uses the order line's unit_price)",
    "updated_at": "when the app last changed the product (UTC)",
}
SCHEMA = StructType(
    [
        StructField("product_id", LongType()),
        StructField("name", StringType()),
        StructField("category", StringType()),
        StructField("list_price_eur", money.PRICE),
        StructField("updated_at", TimestampType()),
    ]
)
RULES = [
    Rule("product_id_missing", "product_id IS NULL"),
    Rule("price_negative", "isnan(list_price_eur) OR list_price_eur < 0"),
    Rule("price_not_cents", money.not_exactly("list_price_eur", money.PRICE)),
]
SPEC = TableSpec(
    name="silver.products",
    key=("product_id",),
    comments=COMMENTS,
    schema=SCHEMA,
    inputs=frozen({"bronze_products": "bronze.products"}),
    rules=tuple(RULES),
)
_PAYLOAD = "_bronze"


def build_products(bronze_products: DataFrame) -> Built:
    """bronze.products → silver.products (latest version per product_id) and its rejects."""
    typed = bronze_products.withColumn(_PAYLOAD, json_struct(bronze_products)).withColumn(
        "updated_at", parse_text_timestamp("updated_at")
    )
    order = [F.col("updated_at").desc_nulls_last(), F.col("_ingested_at").desc_nulls_last()]
    latest = keep_first(typed, ["product_id"], order)
    checked = split_rejects(latest, SPEC.name, RULES, payload=_PAYLOAD)
    price = money.as_decimal("list_price_eur", money.PRICE)
    return checked.map_rows(lambda rows: conform(rows.withColumn("list_price_eur", price), SCHEMA))
