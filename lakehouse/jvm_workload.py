"""The short Spark workload `lakehouse.jvm_archive.build` runs in a new JVM (`python -m
lakehouse.jvm_workload DATA_DIR JARS_DIR`), whose classes the JVM dumps into the archive as it exits."""

from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import Window
from pyspark.sql import functions as F

from lakehouse.config import load_config
from lakehouse.engine import get_session
from lakehouse.storage import Lake


def run_workload(data_dir: Path, jars_dir: Path) -> None:
    """What a job does on Spark, small: Delta overwrites, appends and replaceWhere, time-travel-free
    reads, a window and a join, Parquet staging, Arrow both ways, SQL over registered tables.
    (Classes it does not load, MERGE or OPTIMIZE say, load as before.)"""
    overrides = {"engine.kind": "spark", "data_dir": str(data_dir), "engine.jars_dir": str(jars_dir)}
    config = load_config("local", overrides=overrides, environ={})
    spark = get_session(config)
    lake = Lake(spark, config.lake)
    rows = spark.range(0, 5000).selectExpr(
        "id", "id % 7 AS k", "CAST(id AS DOUBLE) * 1.5 AS x", "CAST(id AS STRING) AS s",
        "date_add(DATE '2026-01-01', CAST(id % 5 AS INT)) AS d", "TIMESTAMP '2026-01-01 00:00:00' AS ts",
    )
    lake.overwrite(rows, "silver.warm", ["d"])
    lake.append(rows.where("id < 100"), "silver.warm", ["d"])
    latest = Window.partitionBy("k").orderBy(F.col("id").desc())
    first = lake.read("silver.warm").withColumn("_n", F.row_number().over(latest)).where("_n = 1").drop("_n")
    with lake.staging() as stage:
        labels = rows.select("id", F.upper("s").alias("label"))
        staged = lake.stage_frame(first.join(labels, "id", "left"), stage, "rows")
        lake.overwrite(staged, "gold.warm")
    day = "d = DATE '2026-01-02'"
    lake.replace_where(rows.where(day), "silver.warm", day, ["d"])
    frame = lake.run_sql("SELECT k, sum(x) AS x, count(*) AS n FROM silver.warm GROUP BY k").toPandas()
    lake.append_pandas(frame, spark.createDataFrame(frame).schema, "ops.warm")
    lake.read("ops.warm").agg(F.max("n")).collect()
    spark.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run_workload(Path(sys.argv[1]), Path(sys.argv[2]))
    else:
        sys.exit("usage: python -m lakehouse.jvm_workload DATA_DIR JARS_DIR (use `lakehouse jvm-archive`)")
