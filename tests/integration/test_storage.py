"""The storage layer on real Delta tables: writes, versions, row counts, catalog registration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql.types import LongType, StringType, StructField, StructType

from lakehouse.storage import Lake, TableNotFound

pytestmark = pytest.mark.integration
SCHEMA = StructType([StructField("id", LongType()), StructField("day", StringType())])


@pytest.fixture
def lake(spark, tmp_path: Path) -> Lake:
    return Lake(spark, tmp_path / "lake")


def _frame(spark, rows: list[tuple[int, str]]):
    return spark.createDataFrame(rows, SCHEMA)


def test_writes_version_and_count_without_a_scan(lake: Lake) -> None:
    assert lake.version("silver.t") is None
    with pytest.raises(TableNotFound, match="silver.t does not exist yet"):
        lake.read("silver.t")
    lake.overwrite(_frame(lake.spark, [(1, "a"), (2, "b")]), "silver.t", partition_by=["day"])
    lake.append(_frame(lake.spark, [(3, "a")]), "silver.t")
    assert (lake.version("silver.t"), lake.row_count("silver.t")) == (1, 3)
    lake.replace_where(_frame(lake.spark, [(9, "a")]), "silver.t", "day = 'a'")
    assert sorted(r["id"] for r in lake.read("silver.t").collect()) == [2, 9]
    assert lake.tables() == ["silver.t"]
    info = lake.info("silver.t")
    assert (info.name, info.rows, info.version) == ("silver.t", 2, 2)


def test_tables_are_registered_as_layer_dot_name(lake: Lake) -> None:
    lake.overwrite(_frame(lake.spark, [(1, "a")]), "gold.registered")
    assert lake.spark.sql("SELECT id FROM gold.registered").first()["id"] == 1
    fresh = Lake(lake.spark, lake.root)  # another run over the same lake
    assert fresh.register_all() == ["gold.registered"]


def test_append_pandas_stages_large_frames_in_one_commit(lake: Lake) -> None:
    frame = pd.DataFrame({"id": pd.Series(range(50_000), dtype="Int64"), "day": ["d"] * 50_000})
    frame.loc[3, "id"] = pd.NA
    lake.append_pandas(frame, SCHEMA, "bronze.big")
    assert (lake.version("bronze.big"), lake.row_count("bronze.big")) == (0, 50_000)
    assert lake.read("bronze.big").where("id IS NULL").count() == 1
    assert not any((lake.root / "_staging").iterdir())


def test_bad_table_names_are_refused(lake: Lake) -> None:
    for name in ("t", "platinum.t", "silver.drop table"):
        with pytest.raises(ValueError, match="is not <layer>.<name>"):
            lake.path(name)
