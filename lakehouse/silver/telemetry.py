"""silver.telemetry: sensor readings, typed and deduplicated on (device_id, seq).

A reading delivered twice (Kafka redelivery, file replay) keeps its first landing: earliest
`_ingested_at`, then the lowest `_source` and `_line_no`. Late and out-of-order readings are kept
(order comes from `reading_ts`). Impossible values are rejected, NaN included; a reading without
a temperature is rejected too (it is what the reading is for), while a missing humidity or
battery level is allowed. A reading dated after the run's latest accepted time, or before the
earliest, is rejected (`lakehouse.quality.event_time`): the bounds come in as an argument.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DoubleType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.quality.event_time import TimeBounds, bind_time_rules, in_future, too_early
from lakehouse.quality.rules import (
    Built,
    Rule,
    conform,
    json_struct,
    outside,
    parse_iso_timestamp,
    split_rejects,
)
from lakehouse.tables import FirstLanding, TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "device_id": "the sensor (van or warehouse)",
    "seq": "the sensor's reading number",
    "reading_ts": "when the reading was taken (UTC)",
    "reading_date": "UTC date of reading_ts",
    "temperature_c": "temperature in degrees Celsius",
    "humidity": "relative humidity in percent; null when not reported",
    "battery_pct": "battery level in percent; null when not reported",
}
SCHEMA = StructType(
    [
        StructField("device_id", StringType()),
        StructField("seq", LongType()),
        StructField("reading_ts", TimestampType()),
        StructField("reading_date", DateType()),
        StructField("temperature_c", DoubleType()),
        StructField("humidity", DoubleType()),
        StructField("battery_pct", DoubleType()),
    ]
)
TEMPERATURE_RANGE = (-40.0, 60.0)
RULES = [
    Rule("device_id_missing", "device_id IS NULL OR trim(device_id) = ''"),
    Rule("seq_missing", "seq IS NULL"),
    Rule("reading_ts_invalid", "reading_ts IS NULL"),
    Rule("temperature_out_of_range", outside("temperature_c", *TEMPERATURE_RANGE)),
    Rule("humidity_out_of_range", outside("humidity", 0.0, 100.0, nullable=True)),
    Rule("battery_out_of_range", outside("battery_pct", 0.0, 100.0, nullable=True)),
    Rule("reading_ts_in_future", in_future("reading_ts")),
    Rule("reading_ts_too_early", too_early("reading_ts")),
]
_PAYLOAD = "_bronze"

# A key's first landing wins. Bronze only ever appends, in `_ingested_at` order, so a landing
# already processed always comes before a new one: incremental runs rely on it.
KEPT_BY = FirstLanding(source="bronze.telemetry", first_by=("_ingested_at", "_source", "_line_no"))
SPEC = TableSpec(
    name="silver.telemetry",
    key=("device_id", "seq"),
    comments=COMMENTS,
    schema=SCHEMA,
    partition_by=("reading_date",),
    date_column="reading_date",
    fresh_by="reading_ts",  # source freshness (a warning) is the age of the newest `reading_ts` at the run date
    inputs=frozen({"first": "bronze.telemetry"}),  # each key's first landing in bronze.telemetry (`build_from_first`)
    incremental=KEPT_BY,
    rules=tuple(RULES),
)


def build_telemetry(bronze_telemetry: DataFrame, bounds: TimeBounds) -> Built:
    """bronze.telemetry → silver.telemetry and its rejects; readings outside `bounds` are rejected."""
    first = KEPT_BY.first_of(bronze_telemetry, SPEC.key)
    return build_from_first(first, bounds)


def build_from_first(first: DataFrame, bounds: TimeBounds) -> Built:
    """Typed rows and rejects from the first landing of each reading."""
    typed = (
        first.withColumn(_PAYLOAD, json_struct(first))
        .withColumn("reading_ts", parse_iso_timestamp("ts"))
        .withColumn("reading_date", F.to_date("reading_ts"))
    )
    checked = split_rejects(typed, SPEC.name, bind_time_rules(RULES, bounds), payload=_PAYLOAD)
    return checked.map_rows(lambda rows: conform(rows, SCHEMA))
