"""bronze.customers, bronze.products, bronze.orders, bronze.order_items, bronze.erasure_requests:
the app database's rows as extracted, one bronze table per source table, append-only."""

from __future__ import annotations

import pandas as pd
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse.bronze.records import Field, spark_schema
from lakehouse.personal import PersonalData
from lakehouse.sources.app_contract import APP_TABLES, AppTable

SOURCE = "app_db"
# order_items is the large one: partitioned by the day its rows changed.
PARTITION_BY: dict[str, list[str]] = {"order_items": ["_updated_date"]}


def bronze_table(name: str) -> str:
    return f"bronze.{name}"


def fields(table: AppTable) -> list[Field]:
    def kind(column: str) -> str:
        if column in table.integer_columns:
            return "int"
        return "float" if column in table.real_columns else "str"

    return [Field(c, kind(c)) for c in table.columns]  # type: ignore[arg-type]


def schema(name: str) -> StructType:
    extra = [StructField("_updated_date", StringType())] if name in PARTITION_BY else []
    return spark_schema(fields(APP_TABLES[name]), extra=extra)


def shape_extract(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Add the partition column for the tables that have one."""
    if name not in PARTITION_BY:
        return frame
    out = frame.copy()
    out["_updated_date"] = out["updated_at"].str.slice(0, 10).astype("object")
    return out


# Tables that may legitimately not exist yet (no erasure requested so far): read as empty.
OPTIONAL_BRONZE = {"bronze.erasure_requests"}
# Personal data: the customers' contact columns (the ingestion scrubs erased customers' rows).
CUSTOMERS_PERSONAL_DATA = PersonalData("bronze.customers", columns=("email", "name", "address"))
