"""`POST /sql`'s guard: one read-only SELECT over allowed gold tables, nothing else."""

from __future__ import annotations

import pytest

from lakehouse.serving.sql_guard import QueryRejected, check_query

GOLD = {"gold.daily_sales", "gold.funnel_daily", "gold.customer_features"}


@pytest.mark.parametrize(("query", "tables"), [
    ("SELECT * FROM gold.daily_sales", {"gold.daily_sales"}),
    ("select 1", set()),
    ("SELECT * FROM `gold`.`daily_sales` AS d", {"gold.daily_sales"}),
    ("WITH t AS (SELECT country FROM gold.daily_sales) SELECT * FROM t JOIN gold.funnel_daily f ON true",
     {"gold.daily_sales", "gold.funnel_daily"}),
    ("SELECT country FROM gold.daily_sales UNION SELECT country FROM gold.customer_features",
     {"gold.daily_sales", "gold.customer_features"}),
    ("SELECT * FROM gold.daily_sales WHERE country IN (SELECT country FROM gold.customer_features)",
     {"gold.daily_sales", "gold.customer_features"}),
    ("SELECT * FROM gold.daily_sales -- ; DROP TABLE gold.daily_sales", {"gold.daily_sales"}),
    ("SELECT 'a; DROP TABLE x' AS s FROM gold.daily_sales", {"gold.daily_sales"}),
])
def test_accepts_selects_over_gold(query: str, tables: set[str]) -> None:
    checked = check_query(query, GOLD)
    assert checked.tables == tables
    assert "DROP" not in checked.sql.split("'")[0]  # comments are not carried into what runs


@pytest.mark.parametrize(("query", "reason"), [
    ("SELECT * FROM gold.daily_sales; DROP TABLE gold.daily_sales", "exactly one statement"),
    ("SELECT 1; SELECT 2", "exactly one statement"),
    ("DROP TABLE gold.daily_sales", "only SELECT"),
    ("INSERT INTO gold.daily_sales SELECT * FROM gold.daily_sales", "only SELECT"),
    ("INSERT OVERWRITE TABLE gold.daily_sales SELECT * FROM gold.daily_sales", "only SELECT"),
    ("UPDATE gold.daily_sales SET units = 0", "only SELECT"),
    ("DELETE FROM gold.daily_sales", "only SELECT"),
    ("MERGE INTO gold.daily_sales t USING gold.daily_sales s ON true WHEN MATCHED THEN DELETE", "only SELECT"),
    ("CREATE TABLE gold.x AS SELECT 1", "only SELECT"),
    ("ALTER TABLE gold.daily_sales ADD COLUMNS (x INT)", "only SELECT"),
    ("TRUNCATE TABLE gold.daily_sales", "only SELECT"),
    ("SET spark.sql.ansi.enabled = false", "only SELECT"),
    ("SELECT * INTO t FROM gold.daily_sales", "only SELECT"),
    ("SELECT * FROM read_csv('/etc/passwd')", "function 'read_csv'"),
    ("SELECT * FROM read_files('/etc')", "function 'read_files'"),
    ("SELECT reflect('java.lang.Runtime', 'getRuntime')", "function 'reflect'"),
    ("SELECT java_method('java.lang.System', 'exit', 0)", "function 'java_method'"),
    ("SELECT * FROM range(10)", "table functions"),
    ("SELECT TRANSFORM(country) USING 'id' AS (a) FROM gold.daily_sales", "QUERYTRANSFORM found"),
    ("SELECT * FROM csv.`/etc/passwd`", "only gold tables"),
    ("SELECT * FROM text.`/etc/passwd`", "only gold tables"),
    ("SELECT * FROM delta.`/data/lake/silver/customers`", "only gold tables"),
    ("SELECT * FROM silver.customers", "'silver.customers' is not allowed"),
    ("SELECT * FROM spark_catalog.bronze.orders", "'bronze.orders' is not allowed"),
    ("SELECT (SELECT MAX(email) FROM silver.customers) FROM gold.daily_sales", "'silver.customers'"),
    ("SELECT * FROM daily_sales", "gold.<table>"),
    ("SELECT * FROM gold.customer_segments", "not an available gold table"),
    ("SELECT * FROM other_catalog.gold.daily_sales", "catalog 'other_catalog'"),
    ("SELEC * FROM gold.daily_sales", "not valid Spark SQL"),
    ("SELECT * FROM (", "not valid Spark SQL"),
])
def test_rejects_everything_else_with_a_reason(query: str, reason: str) -> None:
    with pytest.raises(QueryRejected) as caught:
        check_query(query, GOLD)
    assert reason in str(caught.value)


def test_gold_tables_are_named_as_registered_whatever_the_case_typed() -> None:
    checked = check_query("SELECT * FROM GOLD.DAILY_SALES d JOIN spark_catalog.Gold.Daily_Sales x ON 1 = 1",
                          {"gold.daily_sales"})
    assert checked.sql == "SELECT * FROM gold.daily_sales AS d JOIN gold.daily_sales AS x ON 1 = 1"


def test_a_query_nested_too_deeply_to_check_is_refused_not_an_error() -> None:
    deep = "SELECT " + "(" * 2000 + "1" + ")" * 2000 + " FROM gold.daily_sales"
    with pytest.raises(QueryRejected, match="nested too deeply"):
        check_query(deep, {"gold.daily_sales"})
