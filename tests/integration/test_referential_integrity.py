"""Orders whose customer or product never existed in the app database: rejected whole, with their
rule, by an increment and by a full rebuild alike, and leaving no trace in silver or gold. A
customer created and erased between two extracts (only its erasure request reached the lake)
still existed: its order stays, with country ZZ."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
LATER = "2099-01-01 00:00:00"  # past every extraction watermark
PHANTOM_CUSTOMER, PHANTOM_PRODUCT, ERASED_UNSEEN = 999999, 888888, 777777
# the silver jobs an order, its customer and its products go through
ORDER_CHAIN = ["silver_customers", "silver_products", "silver_orders", "silver_order_lines"]


def _lake(spark, config: Config) -> Lake:
    lake = Lake(spark, config.lake_dir)
    lake.register_all()
    return lake


def _add_orders(config: Config) -> tuple[int, int, int, str]:
    """Three new orders on the last day with EUR sales: of a customer that never existed, of a real
    customer with one item of a product that never existed, and of a customer erased before any
    extract. Returns their ids and the day."""
    with contextlib.closing(sqlite3.connect(config.sources_dir / "app.db")) as db, db:
        (day,) = db.execute("SELECT max(substr(order_ts, 1, 10)) FROM orders WHERE currency = 'EUR'").fetchone()
        (customer,) = db.execute("SELECT min(customer_id) FROM customers").fetchone()
        (product,) = db.execute("SELECT min(product_id) FROM products").fetchone()
        (last,) = db.execute("SELECT max(order_id) FROM orders").fetchone()
        phantom, broken, unseen = last + 1, last + 2, last + 3
        at = f"{day} 12:00:00"
        for oid, cid in ((phantom, PHANTOM_CUSTOMER), (broken, customer), (unseen, ERASED_UNSEEN)):
            db.execute("INSERT INTO orders (order_id, customer_id, status, currency, order_ts, updated_at) "
                       "VALUES (?, ?, 'placed', 'EUR', ?, ?)", (oid, cid, at, LATER))
        items = [(phantom, 1, product), (broken, 1, product), (broken, 2, PHANTOM_PRODUCT), (unseen, 1, product)]
        db.executemany("INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price, discount, "
                       "updated_at) VALUES (?, ?, ?, 2, 10.5, 0.0, ?)", [(*i, LATER) for i in items])
        db.execute("INSERT INTO erasure_requests (customer_id, requested_at) VALUES (?, ?)", (ERASED_UNSEEN, LATER))
    return phantom, broken, unseen, day


def _trace(lake: Lake, ids: list[int]) -> dict[str, object]:
    rejects = lake.read("silver.rejects").where(F.col("table") == "silver.orders").collect()
    kept = lake.read("silver.orders").where(F.col("order_id").isin(ids)).collect()
    return {
        "orders": sorted(r["order_id"] for r in kept),
        "lines": sorted(r["order_id"] for r in lake.read("silver.order_lines").where(F.col("order_id").isin(ids))
                        .select("order_id").collect()),
        "rejected": sorted((json.loads(r["row_json"])["order_id"], r["rule"]) for r in rejects
                           if json.loads(r["row_json"])["order_id"] in ids),
        "features": sorted(r["customer_id"] for r in lake.read("gold.customer_features")
                           .where(F.col("customer_id").isin(PHANTOM_CUSTOMER, ERASED_UNSEEN)).collect()),
    }


def test_an_order_whose_customer_or_product_never_existed_leaves_no_trace(spark, world_copy: Config) -> None:
    lake = _lake(spark, world_copy)
    phantom, broken, unseen, day = _add_orders(world_copy)
    sales_before = sorted(tuple(r) for r in lake.read("gold.daily_sales").where(F.col("order_date") == day).collect())

    summary = run_jobs(world_copy, lake, select_jobs(["bronze_app_db", "silver", "gold_daily_sales",
                                                      "gold_customer_features"]))
    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    statuses = {r.job: r.status for r in summary.reports}
    expected = {
        "orders": [unseen],  # an erased customer existed: the order stays
        "lines": [unseen],
        "rejected": sorted([(phantom, "customer_unknown"), (broken, "product_unknown")]),
        "features": [ERASED_UNSEEN],
    }
    assert _trace(lake, [phantom, broken, unseen]) == expected, statuses
    lines = lake.read("silver.order_lines").where(F.col("order_id") == unseen).collect()
    assert [r["country"] for r in lines] == ["ZZ"]
    # the rejected orders' lines find no order; no customer 999999 anywhere in silver
    line_rules = {(json.loads(r["row_json"])["order_id"], r["rule"])
                  for r in lake.read("silver.rejects").where(F.col("table") == "silver.order_lines").collect()}
    assert {(phantom, "order_unknown"), (broken, "order_unknown")} <= line_rules
    for table in ("silver.customers", "silver.orders", "silver.order_lines"):
        assert lake.read(table).where(F.col("customer_id") == PHANTOM_CUSTOMER).count() == 0, table
    # gold.daily_sales that day: only the kept order's two lines of 10.50 EUR were added
    after = {(r["country"], r["category"]): r for r in lake.read("gold.daily_sales")
             .where(F.col("order_date") == day).collect()}
    before = {(r[1], r[2]): r for r in sales_before}
    grown = {k for k in after if k not in before or after[k]["revenue_eur"] != before[k][5]}
    assert len(grown) == 1
    (key,) = grown
    assert key[0] == "ZZ"
    assert after[key]["revenue_eur"] - (before[key][5] if key in before else 0) == 21

    # a full rebuild rejects the same orders (the silver tables of events, telemetry, rates and
    # targets, which no order reaches, are left as they are)
    rebuilt = run_jobs(world_copy, lake, select_jobs([*ORDER_CHAIN, "gold_daily_sales", "gold_customer_features"]),
                       full=True)
    assert not rebuilt.failed, [(r.job, r.error) for r in rebuilt.failed]
    assert _trace(lake, [phantom, broken, unseen]) == expected
