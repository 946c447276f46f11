"""gold.cold_chain_daily: per (reading_date, device_id), how long goods were too warm.

- `readings`, `min_temp_c`, `max_temp_c` over the device's valid readings that day;
- `minutes_above_limit`: a reading above the limit (temperature_c > limit_c; exactly at the limit
  is fine) stands for the time until the device's next reading, capped at `interval_minutes`;
  the device's last reading counts `interval_minutes`. Summed per day, rounded to 2 decimals;
- `excursions`: runs of consecutive above-limit readings of one device, counted on the day the
  run starts. A gap longer than 3 intervals between two readings breaks a run (the device was
  silent: we do not assume it stayed warm).

Windows run over each device's whole history, not per day, so runs crossing midnight count once.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.tables import ByDates, TableSpec, frozen

GAP_BREAK_INTERVALS = 3
# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "reading_date": "UTC date of the readings",
    "device_id": "the sensor (van or warehouse)",
    "readings": "valid readings that day",
    "min_temp_c": "lowest temperature that day, in degrees Celsius",
    "max_temp_c": "highest temperature that day, in degrees Celsius",
    "minutes_above_limit": (
        "minutes above pipeline.cold_chain_limit_c (each warm reading until the next, capped at "
        "one interval), rounded to 2 decimals"
    ),
    "excursions": "runs of consecutive readings above the limit starting that day",
}
SPEC = TableSpec(
    name="gold.cold_chain_daily",
    key=("reading_date", "device_id"),
    comments=COMMENTS,
    date_column="reading_date",  # incremental runs and backfills replace whole dates
    inputs=frozen({"telemetry": "silver.telemetry"}),
    incremental=ByDates(frozen({"silver.telemetry": "reading_date"})),
)


def days_reached(interval_minutes: int) -> int:
    """Days a reading can move cold-chain results (its neighbours within the gap break matter);
    -1 when the gap break spans a day or more (increments cannot bound it: rebuild whole)."""
    minutes = interval_minutes * GAP_BREAK_INTERVALS
    return -1 if minutes >= 24 * 60 else 1


def build_cold_chain_daily(telemetry: DataFrame, limit_c: float, interval_minutes: int) -> DataFrame:
    """Daily temperature range, minutes above `limit_c` and excursions per device."""
    by_device = Window.partitionBy("device_id").orderBy("reading_ts", "seq")
    epoch = F.col("reading_ts").cast("long")
    above = F.col("temperature_c") > F.lit(float(limit_c)).cast("double")
    cap = float(interval_minutes)
    readings = (
        telemetry.withColumn("above", above)
        .withColumn("gap_after", (F.lead(epoch).over(by_device) - epoch) / 60.0)
        .withColumn("gap_before", (epoch - F.lag(epoch).over(by_device)) / 60.0)
        .withColumn("previous_above", F.lag(above).over(by_device))
    )
    stands_for = F.least(F.coalesce(F.col("gap_after"), F.lit(cap)), F.lit(cap))
    starts_run = F.col("above") & (
        F.col("previous_above").isNull()
        | ~F.col("previous_above")
        | (F.col("gap_before") > F.lit(cap * GAP_BREAK_INTERVALS))
    )
    return readings.groupBy("reading_date", "device_id").agg(
        F.count("*").cast("bigint").alias("readings"),
        F.min("temperature_c").alias("min_temp_c"),
        F.max("temperature_c").alias("max_temp_c"),
        F.round(F.sum(F.when(F.col("above"), stands_for).otherwise(F.lit(0.0))), 2).cast("double").alias(
            "minutes_above_limit"
        ),
        F.sum(F.when(starts_run, 1).otherwise(0)).cast("bigint").alias("excursions"),
    )
