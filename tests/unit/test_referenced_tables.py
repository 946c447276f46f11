"""Which tables a one-statement command registers before it runs (`lakehouse sql`)."""

from __future__ import annotations

import pytest

from lakehouse.sqlrefs import referenced_tables

LAKE = ["bronze.orders", "gold.daily_sales", "gold.daily_sales_by_week", "gold.funnel_daily", "silver.orders"]


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT 1", []),
    ("SELECT * FROM gold.daily_sales", ["gold.daily_sales"]),
    ("select * from GOLD.Daily_Sales d join silver.orders o on true", ["gold.daily_sales", "silver.orders"]),
    ("SELECT * FROM gold.daily_sales_by_week", ["gold.daily_sales_by_week"]),
    ("SHOW TABLES IN gold", ["gold.daily_sales", "gold.daily_sales_by_week", "gold.funnel_daily"]),
    ("SELECT * FROM `gold`.`funnel_daily`", ["gold.funnel_daily"]),
    ("SELECT 'gold.daily_sales' AS s FROM silver.orders -- bronze.orders", ["silver.orders"]),
    ("SHOW COLUMNS IN gold.funnel_daily", ["gold.funnel_daily"]),
    ("DESCRIBE TABLE gold.daily_sales", ["gold.daily_sales"]),
    ("WITH s AS (SELECT * FROM silver.orders) SELECT * FROM s JOIN bronze.orders USING (order_id)",
     ["bronze.orders", "silver.orders"]),
    ("SELECT * FROM gold.daily_sales WHERE (((", ["gold.daily_sales"]),  # unparsable: read from its tokens
    ("SELECT * FROM gold.nosuch", []),
    ("SELECT 'golden' AS bronzed", []),
])
def test_names_in_the_statement_decide(sql: str, expected: list[str]) -> None:
    assert referenced_tables(sql, LAKE) == expected
