"""bronze.events: clickstream events as landed, one row per parseable JSON line."""

from __future__ import annotations

from pyspark.sql.types import LongType, StringType, StructField

from lakehouse.bronze.records import Field, spark_schema

TABLE = "bronze.events"
SOURCE = "clickstream"
FIELDS = [
    Field("event_id", "str", required=True),
    Field("session_id", "str"),
    Field("customer_id", "int"),
    Field("event_type", "str", required=True),
    Field("ts", "str", required=True),
    Field("page", "str"),
    Field("product_id", "int"),
    Field("query", "str"),
    Field("device", "str"),
]
EXTRA = [StructField("_file_date", StringType()), StructField("_line_no", LongType())]
SCHEMA = spark_schema(FIELDS, extra=EXTRA)
PARTITION_BY = ["_file_date"]
