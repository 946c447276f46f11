"""silver.order_lines: one row per order item, enriched with its order, product, the customer's
country at the time of the order, and its amount in EUR.

- The latest version of each item (by `updated_at`, then the latest ingestion).
- Inputs other than bronze.order_items are SILVER tables, so only valid orders, products and
  rates can match. An item whose order or product is not there is rejected (`order_unknown`,
  `product_unknown`); so is one whose customer is neither in silver.customers nor erased
  (`customer_unknown`). The joins are left joins, so the row survives until the rule names it.
- A line with no FX rate for its order's UTC date and currency is not rejected: it fails the
  table's critical `fx_rate_missing` expectation and blocks the write (revenue would be wrong).
- Country: the customer version whose [valid_from, valid_to) holds `order_ts`; when there is
  none (the customer was created and erased between two extracts, so only the erasure request
  reached the lake) the country is `ZZ` and the line is kept.
- Amounts are decimals (`lakehouse/money.py`): `unit_price` DECIMAL(18,2), `discount`
  DECIMAL(5,4), `fx_rate` DECIMAL(18,8); a bronze value those cannot hold exactly is rejected
  (`unit_price_not_cents`, `discount_not_exact`), and so is a line too large for the amounts
  (`amount_out_of_range`). `gross_amount = quantity * unit_price * (1 - discount)` in the order's
  currency, exact, DECIMAL(22,6); `net_amount_eur = gross_amount / fx_rate` (rates are units of
  currency per 1 EUR) rounded half-up to 10 decimals, DECIMAL(18,10), the same on both engines.
  Neither is rounded to cents: gold rounds once, at the end.
- Cancelled orders' lines are kept (with their status); gold decides what counts.
- Increments recompute whole orders (`affected_groups`): those with new item rows, those whose
  order changed, and those reaching a changed product, customer (version or erasure) or FX rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse import money
from lakehouse.quality.rules import (
    Built,
    Rule,
    conform,
    double_literal,
    json_struct,
    keep_first,
    parse_text_timestamp,
    split_rejects,
)
from lakehouse.quality.suites import critical, expect
from lakehouse.tables import ByGroups, TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "order_id": "the order",
    "line_no": "line number within the order",
    "order_date": "UTC date of the order",
    "order_ts": "when the order was placed (UTC)",
    "status": "the order's status",
    "customer_id": "the customer who placed the order",
    "country": "the customer's country at the time of the order (ISO 3166 alpha-2); ZZ when unknown",
    "product_id": "the product",
    "product_name": "product name",
    "category": "product category",
    "currency": "currency of unit_price (ISO 4217)",
    "quantity": "units ordered",
    "unit_price": "price of one unit in the order's currency",
    "discount": "fraction taken off, in [0, 1)",
    "gross_amount": "quantity * unit_price * (1 - discount), in the order's currency, exact",
    "fx_rate": "units of the currency per 1 EUR on the order date",
    "net_amount_eur": "gross_amount / fx_rate, rounded half-up to 10 decimals",
    "updated_at": "when the app last changed the line (UTC)",
}
SCHEMA = StructType(
    [
        StructField("order_id", LongType()),
        StructField("line_no", LongType()),
        StructField("order_date", DateType()),
        StructField("order_ts", TimestampType()),
        StructField("status", StringType()),
        StructField("customer_id", LongType()),
        StructField("country", StringType()),
        StructField("product_id", LongType()),
        StructField("product_name", StringType()),
        StructField("category", StringType()),
        StructField("currency", StringType()),
        StructField("quantity", LongType()),
        StructField("unit_price", money.PRICE),
        StructField("discount", money.DISCOUNT),
        StructField("gross_amount", money.GROSS),
        StructField("fx_rate", money.RATE),
        StructField("net_amount_eur", money.NET),
        StructField("updated_at", TimestampType()),
    ]
)
UNKNOWN_COUNTRY = "ZZ"
RULES = [
    Rule("line_no_missing", "line_no IS NULL"),
    Rule("order_unknown", "_order_found IS NULL"),
    Rule("product_unknown", "_product_found IS NULL"),
    Rule("customer_unknown", "_customer_known IS NULL"),
    Rule("quantity_not_positive", "quantity IS NULL OR quantity <= 0"),
    Rule("unit_price_invalid", "unit_price IS NULL OR isnan(unit_price) OR unit_price < 0"),
    Rule("discount_out_of_range", "discount IS NULL OR isnan(discount) OR discount < 0 OR discount >= 1"),
    Rule("unit_price_not_cents", money.not_exactly("unit_price", money.PRICE)),
    Rule("discount_not_exact", money.not_exactly("discount", money.DISCOUNT)),
    # Checked in doubles before any decimal is computed, so that no amount can overflow its type.
    Rule(
        "amount_out_of_range",
        f"quantity > {money.MAX_QUANTITY} OR CAST(quantity AS DOUBLE) * unit_price >= {double_literal(money.MAX_GROSS)}"
        f" OR CAST(quantity AS DOUBLE) * unit_price / CAST(fx_rate AS DOUBLE) >= {double_literal(money.MAX_NET_EUR)}",
    ),
]
SPEC = TableSpec(
    name="silver.order_lines",
    key=("order_id", "line_no"),
    comments=COMMENTS,
    schema=SCHEMA,
    partition_by=("order_date",),
    date_column="order_date",  # backfills replace whole dates
    inputs=frozen({
        "bronze_order_items": "bronze.order_items",
        "orders": "silver.orders",
        "products": "silver.products",
        "customers": "silver.customers",
        "fx_rates": "silver.fx_rates",
        "erasures": "bronze.erasure_requests",
    }),
    # Increments: lines are recomputed by whole orders, from the items and orders of those orders
    # only; the other inputs are read whole. Per input, the columns whose change moves a line.
    incremental=ByGroups(
        source="bronze.order_items",
        group_key="order_id",
        keyed_inputs=("bronze.order_items", "silver.orders"),
        tracked=frozen({
            "silver.orders": ("order_id", "order_date", "order_ts", "status", "customer_id", "currency"),
            "silver.products": ("product_id", "name", "category"),
            "silver.customers": ("customer_id", "valid_from", "valid_to", "country"),
            "silver.fx_rates": ("rate_date", "currency", "rate"),
            "bronze.erasure_requests": ("customer_id",),
        }),
        # Inputs written by dated increments (`silver_orders` records the order dates it replaced), and
        # their date column: their changes are looked for on the dates those increments touched only.
        dated_inputs=frozen({"silver.orders": "order_date"}),
    ),
    rules=tuple(RULES),
    expectations=(
        critical(expect("ExpectColumnValuesToNotBeNull", column="fx_rate"), "fx_rate_missing", "fx_rate IS NULL"),
    ),
)
_PAYLOAD = "_bronze"


def _latest_items(bronze_order_items: DataFrame) -> DataFrame:
    items = bronze_order_items.withColumn(_PAYLOAD, json_struct(bronze_order_items))
    order = [F.col("updated_at").desc_nulls_last(), F.col("_ingested_at").desc_nulls_last()]
    latest = keep_first(items, ["order_id", "line_no"], order)
    return latest.withColumn("updated_at", parse_text_timestamp("updated_at")).select(
        "order_id", "line_no", "product_id", "quantity", "unit_price", "discount", "updated_at", _PAYLOAD
    )


def _with_country(lines: DataFrame, customers: DataFrame) -> DataFrame:
    """Add the country of the customer version valid at `order_ts` (`ZZ` when there is none)."""
    versions = customers.select(
        F.col("customer_id").alias("_c_customer_id"),
        F.col("valid_from").alias("_c_valid_from"),
        F.col("valid_to").alias("_c_valid_to"),
        F.col("country").alias("_c_country"),
    )
    holds = (
        (F.col("customer_id") == F.col("_c_customer_id"))
        & (F.col("_c_valid_from") <= F.col("order_ts"))
        & (F.col("_c_valid_to").isNull() | (F.col("order_ts") < F.col("_c_valid_to")))
    )
    joined = lines.join(versions, holds, "left")
    return joined.withColumn("country", F.coalesce(F.col("_c_country"), F.lit(UNKNOWN_COUNTRY)))


def _enrich(items: DataFrame, orders: DataFrame, products: DataFrame, fx_rates: DataFrame) -> DataFrame:
    """Left-join the order, product and FX rate; `_order_found`/`_product_found` mark matches."""
    order_side = orders.select(
        "order_id", "order_date", "order_ts", "status", "customer_id", "currency", F.lit(True).alias("_order_found")
    )
    product_side = products.select(
        "product_id",
        F.col("name").alias("product_name"),
        "category",
        F.lit(True).alias("_product_found"),
    )
    rates = fx_rates.select(F.col("rate_date").alias("order_date"), "currency", F.col("rate").alias("fx_rate"))
    return (
        items.join(order_side, "order_id", "left")
        .join(product_side, "product_id", "left")
        .join(rates, ["order_date", "currency"], "left")
    )


def _with_customer_known(lines: DataFrame, customers: DataFrame, erasures: DataFrame | None) -> DataFrame:
    """`_customer_known` is true when the order's customer is in silver.customers or was erased."""
    known = customers.select("customer_id")
    if erasures is not None:
        known = known.unionByName(erasures.select(F.col("customer_id").cast(LongType()).alias("customer_id")))
    flags = known.where(F.col("customer_id").isNotNull()).distinct().withColumn("_customer_known", F.lit(True))
    return lines.join(flags, "customer_id", "left")


def build_order_lines(
    bronze_order_items: DataFrame,
    orders: DataFrame,
    products: DataFrame,
    customers: DataFrame,
    fx_rates: DataFrame,
    erasures: DataFrame | None = None,
) -> Built:
    """bronze.order_items + silver orders, products, customers, fx_rates (+ bronze.erasure_requests)
    → silver.order_lines. Without `erasures`, a customer missing from silver.customers is unknown."""
    enriched = _enrich(_latest_items(bronze_order_items), orders, products, fx_rates)
    lines = _with_customer_known(_with_country(enriched, customers), customers, erasures)
    return split_rejects(lines, SPEC.name, RULES, payload=_PAYLOAD).map_rows(_with_amounts)


def _with_amounts(rows: DataFrame) -> DataFrame:
    """Decimal prices and amounts for rows that passed the rules (so every cast holds its value)."""
    typed = rows.withColumn("unit_price", money.as_decimal("unit_price", money.PRICE)).withColumn(
        "discount", money.as_decimal("discount", money.DISCOUNT)
    )
    amounts = typed.withColumn(
        "gross_amount", money.gross_amount(F.col("quantity"), F.col("unit_price"), F.col("discount"))
    )
    net = money.divide_half_up(F.col("gross_amount"), F.col("fx_rate"))
    return conform(amounts.withColumn("net_amount_eur", net), SCHEMA)


def affected_groups(
    new_items: DataFrame,
    changed: Mapping[str, DataFrame],
    inputs: Mapping[str, DataFrame],
    previous: Mapping[str, DataFrame],
) -> DataFrame:
    """The orders whose lines an increment recomputes: one distinct `order_id` column (null
    stands for the items that have none).

    `new_items` are the bronze item rows landed since the last run; `changed[t]` the rows of input
    `t`'s tracked columns (`SPEC.incremental.tracked`) that differ since then (old and new values);
    `inputs` the current inputs and `previous` those that changed as the last run read them. A
    product reaches every order that has ever had an item of it, a rate every order of its date and
    currency, an erasure every order of its customer when silver.customers does not hold them (no
    order otherwise); a customer's new versions reach only the orders whose country (or whose
    customer's being known) they change, so an email change or a move reaches no order placed before
    it."""
    items, orders = inputs["bronze.order_items"], inputs["silver.orders"]
    parts = [new_items.select("order_id")]
    if "silver.orders" in changed:
        parts.append(changed["silver.orders"].select("order_id"))
    if "silver.products" in changed:
        products = changed["silver.products"].select("product_id").distinct()
        parts.append(items.join(products, "product_id", "left_semi").select("order_id"))
    if "silver.customers" in changed:
        people = changed["silver.customers"].select("customer_id").distinct()
        theirs = orders.join(people, "customer_id", "left_semi").select("order_id", "customer_id", "order_ts")
        now, before = (_placement(theirs, f) for f in (inputs["silver.customers"], previous["silver.customers"]))
        parts.append(now.subtract(before).unionByName(before.subtract(now)).select("order_id"))
    if "bronze.erasure_requests" in changed:
        # An erasure only decides whether a customer silver.customers does not hold is known;
        # one it holds now is known either way (and one it held before is a change of versions).
        erased = changed["bronze.erasure_requests"].select(F.col("customer_id").cast(LongType()).alias("customer_id"))
        absent = erased.distinct().join(inputs["silver.customers"].select("customer_id"), "customer_id", "left_anti")
        parts.append(orders.join(absent, "customer_id", "left_semi").select("order_id"))
    if "silver.fx_rates" in changed:
        rates = changed["silver.fx_rates"].select(F.col("rate_date").alias("order_date"), "currency").distinct()
        parts.append(orders.join(rates, ["order_date", "currency"], "left_semi").select("order_id"))
    return reduce(DataFrame.unionByName, parts).distinct()


def _placement(orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Per order: the country its lines get from `customers`, and whether its customer is there."""
    present = customers.select("customer_id").distinct().withColumn("_present", F.lit(True))
    located = _with_country(orders, customers).join(present, "customer_id", "left")
    return located.select("order_id", "country", F.coalesce("_present", F.lit(False)).alias("_present"))
