"""silver.order_lines: enrichment, country at order time, EUR amounts, and rejects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.bronze import app_tables
from lakehouse.quality.rules import Built
from lakehouse.silver import customers, fx_rates, order_lines, orders, products
from tests.unit.silver_rows import bronze, day, frame, rejected, ts, utc

ITEMS = app_tables.schema("order_items")
T = ts

TRACKED = order_lines.SPEC.incremental.tracked  # type: ignore[union-attr]


def item(
    oid: int | None,
    line: int | None,
    pid: int | None,
    qty: int | None,
    price: float | None,
    discount: float | None,
    updated: str = "2026-01-03 12:00:00",
    ingested: int = 4,
) -> dict[str, object]:
    return {
        "order_id": oid,
        "line_no": line,
        "product_id": pid,
        "quantity": qty,
        "unit_price": price,
        "discount": discount,
        "updated_at": updated,
        "_updated_date": updated[:10],
        "_ingested_at": dt.datetime(2026, 1, ingested, tzinfo=dt.UTC),
    }


# fmt: off
def silver_inputs(spark: SparkSession) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame]:
    silver_orders = frame(spark, orders.SPEC.schema, [
        # at exactly the start of customer 1's French version: France
        (100, 1, "delivered", "EUR", T("2026-01-03 12:00:00"), day("2026-01-03"), T("2026-01-05 00:00:00")),
        # one second earlier: still Germany
        (101, 1, "placed", "USD", T("2026-01-03 11:59:59"), day("2026-01-03"), T("2026-01-03 11:59:59")),
        # customer 2 never reached the lake: ZZ
        (102, 2, "placed", "EUR", T("2026-01-04 00:00:00"), day("2026-01-04"), T("2026-01-04 00:00:00")),
        # no GBP rate on 2026-01-04
        (103, 1, "placed", "GBP", T("2026-01-04 09:00:00"), day("2026-01-04"), T("2026-01-04 09:00:00")),
        # before customer 1's first extract (09:00) but after created_at (08:00): Germany
        (104, 1, "placed", "EUR", T("2026-01-01 08:30:00"), day("2026-01-01"), T("2026-01-01 08:30:00")),
        (105, 1, "cancelled", "USD", T("2026-01-04 23:59:59"), day("2026-01-04"), T("2026-01-05 00:00:00")),
        # no customer on the order: ZZ
        (106, None, "placed", "EUR", T("2026-01-04 10:00:00"), day("2026-01-04"), T("2026-01-04 10:00:00")),
    ])
    silver_customers = frame(spark, customers.SPEC.schema, [
        (1, None, None, "DE", None, T("2026-01-01 08:00:00"), T("2026-01-01 09:00:00"),
         T("2026-01-01 08:00:00"), T("2026-01-03 12:00:00"), False, True),
        (1, None, None, "FR", None, T("2026-01-01 08:00:00"), T("2026-01-03 12:00:00"),
         T("2026-01-03 12:00:00"), None, True, True),
        (3, "c@c.it", "Cy", "IT", "Roma", T("2026-01-01 00:00:00"), T("2026-01-01 00:00:00"),
         T("2026-01-01 00:00:00"), None, True, False),
    ])
    silver_products = frame(spark, products.SPEC.schema, [
        (500, "Milk", "dairy", D("1.00"), T("2026-01-01 00:00:00")),
        (501, "Cheese", "dairy", D("3.00"), T("2026-01-01 00:00:00")),
    ])
    silver_fx = frame(spark, fx_rates.SPEC.schema, [
        (day("2026-01-01"), "EUR", D(1)),
        (day("2026-01-03"), "EUR", D(1)),
        (day("2026-01-03"), "USD", D("1.25")),
        (day("2026-01-04"), "EUR", D(1)),
        (day("2026-01-04"), "USD", D("1.1")),
        (day("2026-01-03"), "GBP", D("0.85")),
    ])
    return silver_orders, silver_products, silver_customers, silver_fx
# fmt: on


BRONZE = [
    item(100, 1, 500, 2, 10.0, 0.5, updated="2026-01-03 12:00:00"),
    item(100, 1, 500, 3, 10.0, 0.5, updated="2026-01-03 13:00:00", ingested=3),  # later version wins
    item(101, 1, 501, 4, 2.5, 0.0),
    item(101, 3, 501, 3, 19.99, 0.1),
    item(102, 1, 500, 1, 3.0, 0.25),
    item(104, 1, 500, 1, 4.0, 0.0),
    item(105, 1, 501, 2, 11.0, 0.0),
    item(105, 2, 501, 1, 1.0, 0.0),  # 1 / 1.1 = 0.90909090909...: half-up to 0.9090909091
    item(103, 1, 500, 1, 1.0, 0.0),  # no FX rate: kept, with a null rate (a critical check blocks the write)
    # rejects
    item(106, 1, 500, 1, 1.5, 0.0),  # customer_unknown: the order has no customer
    item(999, 1, 500, 1, 1.0, 0.0),  # order_unknown
    item(None, 1, 500, 1, 1.0, 0.0),  # order_unknown
    item(100, None, 500, 1, 1.0, 0.0),  # line_no_missing
    item(100, 2, 777, 1, 1.0, 0.0),  # product_unknown
    item(100, 3, 500, 0, 1.0, 0.0),  # quantity_not_positive
    item(100, 4, 500, 1, 10.0, 1.0),  # discount_out_of_range
    item(100, 5, 500, 1, -1.0, 0.0),  # unit_price_invalid
    item(101, 2, 501, 1, 10.0, None),  # discount_out_of_range
    item(999, 2, 777, 0, 1.0, 2.0),  # everything wrong: the first rule names it
    item(101, 4, 501, 1, 12.345, 0.0),  # unit_price_not_cents: a decimal of cents cannot hold it
    item(101, 5, 501, 1, float("nan"), 0.0),  # unit_price_invalid
    item(101, 6, 501, 1, 1e20, 0.0),  # unit_price_not_cents: too large for DECIMAL(18,2)
    item(101, 7, 501, 1, 1.0, 0.12345),  # discount_not_exact
    item(101, 8, 501, 2_000_000_000, 1.0, 0.0),  # amount_out_of_range: quantity
    item(101, 9, 501, 1_000_000, 99_999_999.0, 0.0),  # amount_out_of_range: amount in its currency
    item(101, 10, 501, 1_000, 99_999.0, 0.0),  # amount_out_of_range: 80 million EUR on one line
]


def build(spark: SparkSession) -> Built:
    silver_orders, silver_products, silver_customers, silver_fx = silver_inputs(spark)
    # Customer 2 is not in silver.customers but was erased: known, country ZZ.
    erasures = spark.createDataFrame([(2, "2026-01-05 00:00:00")], "customer_id long, requested_at string")
    return order_lines.build_order_lines(
        bronze(spark, ITEMS, BRONZE), silver_orders, silver_products, silver_customers, silver_fx, erasures
    )


def test_lines_are_enriched_and_converted(spark: SparkSession) -> None:
    d, upd = day, T("2026-01-03 12:00:00")
    # fmt: off
    expected = [
        (100, 1, d("2026-01-03"), T("2026-01-03 12:00:00"), "delivered", 1, "FR", 500, "Milk", "dairy", "EUR",
         3, D("10.00"), D("0.5000"), D("15.000000"), D("1.00000000"), D("15.0000000000"), T("2026-01-03 13:00:00")),
        (101, 1, d("2026-01-03"), T("2026-01-03 11:59:59"), "placed", 1, "DE", 501, "Cheese", "dairy", "USD",
         4, D("2.50"), D("0.0000"), D("10.000000"), D("1.25000000"), D("8.0000000000"), upd),
        (101, 3, d("2026-01-03"), T("2026-01-03 11:59:59"), "placed", 1, "DE", 501, "Cheese", "dairy", "USD",
         3, D("19.99"), D("0.1000"), D("53.973000"), D("1.25000000"), D("43.1784000000"), upd),
        (102, 1, d("2026-01-04"), T("2026-01-04 00:00:00"), "placed", 2, "ZZ", 500, "Milk", "dairy", "EUR",
         1, D("3.00"), D("0.2500"), D("2.250000"), D("1.00000000"), D("2.2500000000"), upd),
        (104, 1, d("2026-01-01"), T("2026-01-01 08:30:00"), "placed", 1, "DE", 500, "Milk", "dairy", "EUR",
         1, D("4.00"), D("0.0000"), D("4.000000"), D("1.00000000"), D("4.0000000000"), upd),
        (105, 1, d("2026-01-04"), T("2026-01-04 23:59:59"), "cancelled", 1, "FR", 501, "Cheese", "dairy", "USD",
         2, D("11.00"), D("0.0000"), D("22.000000"), D("1.10000000"), D("20.0000000000"), upd),
        (105, 2, d("2026-01-04"), T("2026-01-04 23:59:59"), "cancelled", 1, "FR", 501, "Cheese", "dairy", "USD",
         1, D("1.00"), D("0.0000"), D("1.000000"), D("1.10000000"), D("0.9090909091"), upd),
    ]
    # fmt: on
    rows = build(spark).rows
    assert [(f.name, f.dataType) for f in rows.schema.fields] == [(f.name, f.dataType) for f in order_lines.SPEC.schema]
    converted = rows.where("order_id <> 103").orderBy("order_id", "line_no").collect()
    assert [tuple(utc(v) for v in r) for r in converted] == expected
    # exact decimals, digit for digit (a double or a truncated quotient would differ)
    assert [str(r["net_amount_eur"]) for r in converted] == [str(e[-2]) for e in expected]
    unconverted = rows.where("order_id = 103").select("fx_rate", "net_amount_eur").collect()
    assert [tuple(r) for r in unconverted] == [(None, None)]


def test_an_unknown_customer_is_rejected_unless_erased(spark: SparkSession) -> None:
    silver_orders, silver_products, silver_customers, silver_fx = silver_inputs(spark)
    items = bronze(spark, ITEMS, [item(102, 1, 500, 1, 3.0, 0.25)])
    built = order_lines.build_order_lines(items, silver_orders, silver_products, silver_customers, silver_fx)
    assert [r["rule"] for r in built.rejects.collect()] == ["customer_unknown"]
    assert built.rows.count() == 0


def test_rejects_name_the_first_failing_rule(spark: SparkSession) -> None:
    assert rejected(build(spark), "order_id", "line_no") == sorted(
        [
            ("silver.order_lines", "customer_unknown", 106, 1),
            ("silver.order_lines", "order_unknown", 999, 1),
            ("silver.order_lines", "order_unknown", None, 1),
            ("silver.order_lines", "line_no_missing", 100, None),
            ("silver.order_lines", "product_unknown", 100, 2),
            ("silver.order_lines", "quantity_not_positive", 100, 3),
            ("silver.order_lines", "discount_out_of_range", 100, 4),
            ("silver.order_lines", "unit_price_invalid", 100, 5),
            ("silver.order_lines", "discount_out_of_range", 101, 2),
            ("silver.order_lines", "order_unknown", 999, 2),
            ("silver.order_lines", "unit_price_not_cents", 101, 4),
            ("silver.order_lines", "unit_price_invalid", 101, 5),
            ("silver.order_lines", "unit_price_not_cents", 101, 6),
            ("silver.order_lines", "discount_not_exact", 101, 7),
            ("silver.order_lines", "amount_out_of_range", 101, 8),
            ("silver.order_lines", "amount_out_of_range", 101, 9),
            ("silver.order_lines", "amount_out_of_range", 101, 10),
        ],
        key=repr,
    )


def test_rejects_carry_the_bronze_item(spark: SparkSession) -> None:
    built = build(spark)
    row = built.rejects.where("rule = 'product_unknown'").first()
    assert row is not None
    assert row["row_json"] == (
        '{"order_id":100,"line_no":2,"product_id":777,"quantity":1,"unit_price":1.0,"discount":0.0,'
        '"updated_at":"2026-01-03 12:00:00","_updated_date":"2026-01-03",'
        '"_ingested_at":"2026-01-04 00:00:00","_source":"test","_batch_id":"b1"}'
    )
    spec = order_lines.SPEC
    assert (spec.name, spec.key, spec.partition_by) == (
        "silver.order_lines",
        ("order_id", "line_no"),
        ("order_date",),
    )


# -- increments -------------------------------------------------------------------------------
def _inputs(spark: SparkSession) -> dict[str, DataFrame]:
    silver_orders, silver_products, silver_customers, silver_fx = silver_inputs(spark)
    return {
        "bronze.order_items": bronze(spark, ITEMS, BRONZE),
        "silver.orders": silver_orders,
        "silver.products": silver_products,
        "silver.customers": silver_customers,
        "silver.fx_rates": silver_fx,
        "bronze.erasure_requests": spark.createDataFrame(
            [(2, "2026-01-05 00:00:00")], "customer_id long, requested_at string"
        ),
    }


# fmt: off
# One change to one input: (input, rows removed, rows added, the orders it reaches). The orders are
# worked out by hand from the rows above: `None` stands for the items that have no order id.
CHANGES = {
    "a new line of order 104": (
        "bronze.order_items", None, [item(104, 2, 500, 1, 4.0, 0.0, ingested=9)], {104}),
    "a new item without an order": (
        "bronze.order_items", None, [item(None, 2, 500, 1, 1.0, 0.0, ingested=9)], {None}),
    "order 105 delivered": (
        "silver.orders", "order_id = 105",
        [(105, 1, "delivered", "USD", T("2026-01-04 23:59:59"), day("2026-01-04"), T("2026-01-06 00:00:00"))],
        {105}),
    "product 777 arrives": (
        "silver.products", None, [(777, "Butter", "dairy", D("2.00"), T("2026-01-05 00:00:00"))], {100, 999}),
    "milk renamed": (
        "silver.products", "product_id = 500", [(500, "Whole milk", "dairy", D("1.00"), T("2026-01-05 00:00:00"))],
        {100, 102, 103, 104, 106, 999, None}),
    "a price change only": (
        "silver.products", "product_id = 501", [(501, "Cheese", "dairy", D("3.50"), T("2026-01-05 00:00:00"))], set()),
    "customer 1 moves to Spain on 2026-01-04 at 10:00": (
        "silver.customers", "customer_id = 1 AND country = 'FR'",
        [(1, None, None, "FR", None, T("2026-01-01 08:00:00"), T("2026-01-03 12:00:00"), T("2026-01-03 12:00:00"),
          T("2026-01-04 10:00:00"), False, True),
         (1, None, None, "ES", None, T("2026-01-01 08:00:00"), T("2026-01-04 10:00:00"), T("2026-01-04 10:00:00"),
          None, True, True)],
        {105}),
    "customer 1's new version in the same country": (
        "silver.customers", "customer_id = 1 AND country = 'FR'",
        [(1, None, None, "FR", None, T("2026-01-01 08:00:00"), T("2026-01-03 12:00:00"), T("2026-01-03 12:00:00"),
          T("2026-01-04 10:00:00"), False, True),
         (1, None, None, "FR", None, T("2026-01-01 08:00:00"), T("2026-01-04 10:00:00"), T("2026-01-04 10:00:00"),
          None, True, True)],
        set()),
    "customer 2 arrives": (
        "silver.customers", None,
        [(2, "b@b.es", "Bo", "ES", "Madrid", T("2026-01-01 00:00:00"), T("2026-01-01 00:00:00"),
          T("2026-01-01 00:00:00"), None, True, False)],
        {102}),
    # an erasure moves no line of a customer silver.customers holds (their versions lose only
    # personal data); for one it does not hold, it decides whether the customer is known
    "customer 1 erased": (
        "bronze.erasure_requests", None, [(1, "2026-01-06 00:00:00")], set()),
    "customer 3, who has no order, erased": (
        "bronze.erasure_requests", None, [(3, "2026-01-06 00:00:00")], set()),
    "customer 2's erasure request gone": (
        "bronze.erasure_requests", "customer_id = 2", [], {102}),
    "a GBP rate for 2026-01-04": (
        "silver.fx_rates", None, [(day("2026-01-04"), "GBP", D("0.86"))], {103}),
    "the USD rate of 2026-01-03 corrected": (
        "silver.fx_rates", "rate_date = DATE '2026-01-03' AND currency = 'USD'", [(day("2026-01-03"), "USD", D("1.3"))],
        {101}),
}
# fmt: on


def _changed(before: DataFrame, after: DataFrame, columns: tuple[str, ...]) -> DataFrame:
    old, new = before.select(*columns), after.select(*columns)
    return new.subtract(old).unionByName(old.subtract(new))


def _by_order(built: Built) -> dict[object, list[str]]:
    """Every row and reject of a build as text, by order id (one engine job)."""
    rows = built.rows.select("order_id", F.to_json(F.struct(*built.rows.columns)).alias("text"))
    held = F.get_json_object("row_json", "$.order_id").cast("long")
    rejects = built.rejects.select(held.alias("order_id"), F.concat("rule", "row_json").alias("text"))
    out: dict[object, list[str]] = {}
    for r in rows.unionByName(rejects).collect():
        out.setdefault(r["order_id"], []).append(r["text"])
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def built_before(spark: SparkSession) -> dict[object, list[str]]:
    """The build from the unchanged inputs, by order id (the same for every change)."""
    before = _inputs(spark)
    return _by_order(order_lines.build_order_lines(*(before[t] for t in _inputs_order())))


@pytest.mark.parametrize("change", list(CHANGES))
def test_an_increment_recomputes_the_orders_a_change_reaches_and_no_other_order_changes(
    spark: SparkSession, built_before: dict[object, list[str]], change: str
) -> None:
    table, removed, added, reached = CHANGES[change]
    before = _inputs(spark)
    after = dict(before)
    schema = before[table].schema
    added_rows = bronze(spark, ITEMS, added) if table == "bronze.order_items" else spark.createDataFrame(added, schema)
    kept = before[table].where(f"NOT ({removed})") if removed else before[table]
    after[table] = spark.createDataFrame(kept.collect() + added_rows.collect(), schema)  # a plain frame, as read
    new_items = added_rows if table == "bronze.order_items" else before["bronze.order_items"].limit(0)
    changed = {
        t: _changed(before[t], after[t], columns) for t, columns in TRACKED.items() if t == table
    }

    previous = {t: before[t] for t in changed}
    found = {r["order_id"] for r in order_lines.affected_groups(new_items, changed, after, previous).collect()}
    assert found == reached

    # what the increment leaves alone is what a rebuild from the changed inputs gives there
    old, new = built_before, _by_order(order_lines.build_order_lines(*(after[t] for t in _inputs_order())))
    moved = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    assert moved <= reached


def _inputs_order() -> tuple[str, ...]:
    return ("bronze.order_items", "silver.orders", "silver.products", "silver.customers", "silver.fx_rates",
            "bronze.erasure_requests")
