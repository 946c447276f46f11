"""bronze.telemetry: IoT readings as landed (replay files; the Kafka path lands the same shape)."""

from __future__ import annotations

from pyspark.sql.types import LongType, StringType, StructField

from lakehouse.bronze.records import Field, spark_schema

TABLE = "bronze.telemetry"
SOURCE = "telemetry"
FIELDS = [
    Field("device_id", "str", required=True),
    Field("seq", "int", required=True),
    Field("ts", "str", required=True),
    Field("temperature_c", "float"),
    Field("humidity", "float"),
    Field("battery_pct", "float"),
]
EXTRA = [StructField("_file_date", StringType()), StructField("_line_no", LongType())]
SCHEMA = spark_schema(FIELDS, extra=EXTRA)
PARTITION_BY = ["_file_date"]
