"""split_rejects and the shared silver steps, on both engines."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.quality.rules import (
    COUNTRY_CODE,
    EMAIL,
    REJECT_COLUMNS,
    Rule,
    empty_rejects,
    json_struct,
    keep_first,
    not_matching,
    outside,
    parse_date,
    parse_iso_timestamp,
    parse_text_timestamp,
    split_rejects,
)
from tests.unit.silver_rows import day, frame, ts, utc

SCHEMA = StructType([StructField("id", LongType()), StructField("x", LongType()), StructField("s", StringType())])
RULES = [Rule("x_missing", "x IS NULL"), Rule("x_negative", "x < 0"), Rule("s_bad", "s = 'bad'")]


def test_first_failing_rule_wins_and_null_results_pass(spark: SparkSession) -> None:
    df = frame(spark, SCHEMA, [(1, 5, "ok"), (2, None, "bad"), (3, -1, "bad"), (4, 7, "bad"), (5, 7, None)])
    built = split_rejects(df, "silver.t", RULES)
    # Row 5: `s = 'bad'` is NULL for a null s, which counts as passing.
    assert_df_equality(built.rows, frame(spark, SCHEMA, [(1, 5, "ok"), (5, 7, None)]), ignore_row_order=True)
    assert tuple(built.rejects.columns) == REJECT_COLUMNS
    got = sorted((r["table"], r["rule"], r["row_json"]) for r in built.rejects.collect())
    assert got == [
        ("silver.t", "s_bad", '{"id":4,"x":7,"s":"bad"}'),
        ("silver.t", "x_missing", '{"id":2,"s":"bad"}'),  # to_json leaves null fields out
        ("silver.t", "x_negative", '{"id":3,"x":-1,"s":"bad"}'),
    ]


def test_no_rules_keeps_every_row(spark: SparkSession) -> None:
    df = frame(spark, SCHEMA, [(1, 5, "ok"), (2, None, None)])
    built = split_rejects(df, "silver.t", [])
    assert built.rows.count() == 2 and built.rejects.count() == 0

    def shape(schema: StructType) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]

    assert shape(built.rejects.schema) == shape(empty_rejects(spark).schema)


def test_empty_rejects_has_the_reject_schema(spark: SparkSession) -> None:
    empty = empty_rejects(spark)
    assert tuple(empty.columns) == REJECT_COLUMNS and empty.count() == 0
    assert all(isinstance(f.dataType, StringType) for f in empty.schema.fields)


def test_row_json_writes_timestamps_the_same_on_every_engine(spark: SparkSession) -> None:
    schema = StructType(
        [StructField("id", LongType()), StructField("at", TimestampType()), StructField("v", DoubleType())]
    )
    df = frame(spark, schema, [(1, ts("2026-01-01 10:00:00"), 2.5)])
    built = split_rejects(df, "silver.t", [Rule("always", "id = 1")])
    assert [r["row_json"] for r in built.rejects.collect()] == ['{"id":1,"at":"2026-01-01 10:00:00","v":2.5}']


def test_payload_column_is_what_row_json_holds(spark: SparkSession) -> None:
    df = frame(spark, SCHEMA, [(1, 5, "ok"), (2, -3, "x")])
    with_payload = df.withColumn("_raw", json_struct(df, ["id", "s"])).withColumn("x", F.col("x") * 10)
    built = split_rejects(with_payload, "silver.t", RULES, payload="_raw")
    assert built.rows.columns == ["id", "x", "s", "_raw"]
    assert [(r["id"], r["x"], r["s"]) for r in built.rows.collect()] == [(1, 50, "ok")]
    assert [(r["rule"], r["row_json"]) for r in built.rejects.collect()] == [("x_negative", '{"id":2,"s":"x"}')]


def test_rule_is_frozen_and_printable() -> None:
    rule = Rule("country_invalid", not_matching("country", COUNTRY_CODE))
    assert rule.fails_when == "country IS NULL OR NOT (country RLIKE '\\\\A[A-Z]{2}\\\\z')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.name = "other"  # type: ignore[misc]


def test_regex_rules_read_the_same_on_both_engines(spark: SparkSession) -> None:
    values = ["DE", "de", "DEU", None, "DE\n", "a@b.co", "a b@c.de", "x@y.z\n", "a@b"]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    checks = df.select(
        "v",
        F.expr(not_matching("v", COUNTRY_CODE)).alias("bad_country"),
        F.expr(not_matching("v", EMAIL, nullable=True)).alias("bad_email"),
    )
    got = {r["v"]: (r["bad_country"], r["bad_email"]) for r in checks.collect()}
    # A trailing newline fails both: `\z` is the end of the text on Java and Rust regex alike.
    assert got["DE"] == (False, True) and got["DE\n"] == (True, True)
    assert got["de"][0] and got["DEU"][0] and got[None] == (True, False)
    assert got["a@b.co"][1] is False and got["a b@c.de"][1] and got["x@y.z\n"][1] and got["a@b"][1]


def test_outside_counts_nan_and_optional_nulls(spark: SparkSession) -> None:
    values = [-41.0, -40.0, 60.0, 60.5, math.nan, None]
    df = spark.createDataFrame(list(enumerate(values)), "i int, v double")
    required = F.coalesce(F.expr(outside("v", -40, 60)), F.lit(False)).alias("required")
    optional = F.coalesce(F.expr(outside("v", -40, 60, nullable=True)), F.lit(False)).alias("optional")
    got = [(r["required"], r["optional"]) for r in df.select("i", required, optional).orderBy("i").collect()]
    assert got == [(True, True), (False, False), (False, False), (True, True), (True, True), (True, False)]


def test_parsers_are_strict_and_null_on_bad_text(spark: SparkSession) -> None:
    texts = [
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:00:00z",
        "2026-02-30T10:00:00Z",
        "2026-01-01 10:00:00",
        "2026-01-01T10:00:00+00:00",
        " 2026-01-01T10:00:00Z",
        None,
    ]
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "i int, t string")
    parsed = df.select(
        "i", parse_iso_timestamp("t").alias("iso"), parse_text_timestamp("t").alias("text"), parse_date("t").alias("d")
    ).orderBy("i")
    got = [(utc(r["iso"]), utc(r["text"]), r["d"]) for r in parsed.collect()]
    assert got == [
        (ts("2026-01-01 10:00:00"), None, None),
        (None, None, None),  # Spark alone would read the lowercase 'z'
        (None, None, None),
        (None, ts("2026-01-01 10:00:00"), None),
        (None, None, None),
        (None, None, None),
        (None, None, None),
    ]
    date_texts = ["2026-01-31", "2026-1-31", "2026-02-30", "2026-01-31 "]
    dates = spark.createDataFrame(list(enumerate(date_texts)), "i int, t string")
    got_dates = [r["d"] for r in dates.select("i", parse_date("t").alias("d")).orderBy("i").collect()]
    assert got_dates == [day("2026-01-31"), None, None, None]


def test_keep_first_keeps_every_row_with_a_null_key(spark: SparkSession) -> None:
    schema = StructType([StructField("k", LongType()), StructField("v", LongType())])
    df = frame(spark, schema, [(1, 1), (1, 3), (2, 2), (None, 5), (None, 6)])
    kept = keep_first(df, ["k"], [F.col("v").desc()])
    assert_df_equality(kept, frame(spark, schema, [(1, 3), (2, 2), (None, 5), (None, 6)]), ignore_row_order=True)


@pytest.mark.parametrize("repeats_rare", [False, True], ids=["ranked", "repeats-rare"])
def test_keep_first_keeps_the_first_row_of_each_key(spark: SparkSession, repeats_rare: bool) -> None:
    """Keys of two columns, one to four rows each, some with a null part; the first by `t`
    ascending then `s` descending, worked out here in Python."""
    import random

    rng = random.Random(7)
    schema = StructType([StructField("a", LongType()), StructField("b", StringType()),
                         StructField("t", LongType()), StructField("s", StringType())])
    rows = []
    for key in range(60):
        a, b = (None if key % 13 == 0 else key % 7), (None if key % 11 == 0 else f"k{key}")
        for n in range(rng.choice([1, 1, 1, 2, 4])):
            rows.append((a, b, rng.randrange(5), f"s{key}-{n}"))  # `s` unique: no two rows tie
    rng.shuffle(rows)
    expected, nulls = {}, []
    for row in rows:
        if row[0] is None or row[1] is None:
            nulls.append(row)
        elif row[:2] not in expected or (row[2], _descending(row[3])) < (
                expected[row[:2]][2], _descending(expected[row[:2]][3])):
            expected[row[:2]] = row
    kept = keep_first(frame(spark, schema, rows), ["a", "b"], [F.col("t").asc(), F.col("s").desc()],
                      repeats_rare=repeats_rare)
    assert sorted(repr(tuple(r)) for r in kept.collect()) == sorted(map(repr, [*expected.values(), *nulls]))
    assert len(nulls) > 1 and len(rows) > len(expected) + len(nulls)  # the frame has both cases


def _descending(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text) + (1,)


def test_row_json_is_valid_json_with_strings_escaped(spark: SparkSession) -> None:
    df = frame(spark, SCHEMA, [(1, -1, 'quote " and \\ backslash')])
    built = split_rejects(df, "silver.t", RULES)
    first = built.rejects.first()
    assert first is not None
    assert json.loads(first["row_json"]) == {"id": 1, "x": -1, "s": 'quote " and \\ backslash'}
