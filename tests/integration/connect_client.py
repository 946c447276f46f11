"""A stock PySpark Connect client for the SQL endpoint tests, run in its own process (a process
holding the JVM engine's classic session cannot open a Connect one).

`python connect_client.py URL LAKE APP_DB [NAME,...]` runs the attempts below (all of them, or those
named) and prints one JSON line per attempt: `{"name", "ok", "rows"}` or `{"name", "ok": false, "error"}`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F  # noqa: N812


def attempts(s: SparkSession, lake: str, app_db: str) -> dict[str, Callable[[], Any]]:
    scratch = tempfile.mkdtemp()
    script = Path(scratch) / "payload.py"
    script.write_text("x = 1\n")
    sales = "gold.daily_sales"
    return {
        # what a client should be able to do
        "sql_gold": lambda: s.sql(f"SELECT country, SUM(units) AS units FROM {sales} GROUP BY country").collect(),
        "dataframe_gold": lambda: (s.table(sales).where(F.col("units") > 0).groupBy("country")
                                   .agg(F.sum("units").alias("units")).toPandas().to_dict("records")),
        "select_expr_gold": lambda: s.table(sales).selectExpr("units * 2 AS twice").filter("twice > 0").count(),
        "show_gold": lambda: s.table(sales).limit(2)._show_string(2),
        "schema_gold": lambda: s.table(sales).schema.simpleString(),
        "list_gold": lambda: sorted(t.name for t in s.catalog.listTables("gold")),
        # what no client may do
        "bronze_sql": lambda: s.sql("SELECT email FROM bronze.customers").collect(),
        "silver_table": lambda: s.table("silver.customers").collect(),
        "bronze_delta_path": lambda: s.sql(f"SELECT * FROM delta.`{lake}/bronze/customers`").collect(),
        "silver_read_path": lambda: s.read.format("delta").load(f"{lake}/silver/customers").collect(),
        "hidden_sql": lambda: s.sql("SELECT * FROM gold.customer_segments").collect(),
        "hidden_table": lambda: s.table("gold.customer_segments").collect(),
        "passwd_read_text": lambda: s.read.text("/etc/passwd").collect(),
        "passwd_sql_text": lambda: s.sql("SELECT * FROM text.`/etc/passwd`").collect(),
        "app_db_read_text": lambda: s.read.text(app_db).collect(),
        "drop_table": lambda: s.sql("DROP TABLE gold.funnel_daily").collect(),
        "replace_view": lambda: s.sql(f"CREATE OR REPLACE VIEW {sales} AS SELECT * FROM {sales} WHERE false").collect(),
        "replace_global_view": lambda: s.sql(
            f"CREATE OR REPLACE GLOBAL TEMPORARY VIEW daily_sales AS SELECT * FROM {sales} WHERE false").collect(),
        "replace_view_dataframe": lambda: s.table(sales).where("false").createOrReplaceGlobalTempView("daily_sales"),
        "drop_view_catalog": lambda: s.catalog.dropGlobalTempView("daily_sales"),
        "delete_rows": lambda: s.sql("DELETE FROM gold.cold_chain_daily").collect(),
        "create_table_location": lambda: s.sql(
            f"CREATE TABLE gold.stolen USING delta LOCATION '{lake}/gold/stolen' AS SELECT * FROM {sales}").collect(),
        "write_path": lambda: s.table(sales).write.format("delta").save(f"{lake}/gold/stolen"),
        "set_sql": lambda: s.sql("SET spark.sql.ansi.enabled=false").collect(),
        "set_conf": lambda: s.conf.set("spark.sql.ansi.enabled", "false"),
        "temp_view_sql": lambda: s.sql("CREATE TEMPORARY VIEW c AS SELECT * FROM silver.customers").collect(),
        "temp_view_dataframe": lambda: s.table(sales).createOrReplaceTempView("c"),
        "reflect_function": lambda: s.table(sales).select(
            F.call_function("reflect", F.lit("java.lang.System"), F.lit("getenv"), F.lit("HOME"))).collect(),
        "java_method_expr": lambda: s.table(sales).select(
            F.expr("java_method('java.lang.System', 'getenv', 'HOME')")).collect(),
        "input_file_name": lambda: s.table(sales).select(F.input_file_name()).collect(),
        "python_udf": lambda: s.table(sales).select(F.udf(lambda x: x)("units")).collect(),
        "add_artifact": lambda: s.addArtifacts(str(script), pyfile=True),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "asDict"):
        return value.asDict()
    return value


def main() -> None:
    url, lake, app_db = sys.argv[1:4]
    spark = SparkSession.builder.remote(url).getOrCreate()
    if os.environ.get("CONNECT_CLIENT_NO_RETRY"):  # a server it cannot talk to fails at once
        spark.client.set_retry_policies([])
    every = attempts(spark, lake, app_db)
    for name in sys.argv[4].split(",") if len(sys.argv) > 4 else every:
        attempt = every[name]
        try:
            result = {"name": name, "ok": True, "rows": _plain(attempt())}
        except Exception as exc:  # noqa: BLE001 - every failure is an answer to report
            result = {"name": name, "ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        print(json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
