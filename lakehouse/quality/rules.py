"""Row-level quality for silver: reject rules, and the small steps every silver transform shares.

A `Rule` names what is wrong with a row and says when a row FAILS it, as a Spark SQL boolean
expression (`fails_when`): portable between Sail and Apache Spark, and printable in docs and logs.

Null semantics: a row fails a rule only when `fails_when` is TRUE; an expression that evaluates to
NULL counts as passing (`coalesce(expr, false)`). A rule about a required value therefore spells
out the null case (`quantity IS NULL OR quantity <= 0`), and `x NOT IN (...)` alone never rejects
a null `x`.

`split_rejects` sends every row that fails any rule to the rejects frame (`table`, `rule`,
`row_json`), naming the FIRST failing rule in the order given; the other rows pass unchanged.

Portability notes (measured on pysail 0.7.2 and Apache Spark 4.0.1, both with ANSI mode on):
- `cast`/`to_timestamp` raise on bad input under ANSI on both engines: parse with
  `try_to_timestamp` / `try_cast`, which give NULL.
- `try_to_timestamp` matches quoted pattern letters case-insensitively on Spark ('z' for 'Z') but
  not on Sail, so text is checked against a regex first (`parse_timestamp`).
- In `RLIKE`, `$` matches before a trailing newline on Spark (Java regex) but not on Sail (Rust
  regex): anchor with `\\z`, which both treat as the very end of the text.
- A decimal literal (`60.0`) compared with a double column makes Sail cast the column to
  DECIMAL, which fails on NaN ("Cannot cast to Decimal128(30, 15). Overflowing on NaN"); Spark
  casts the literal to double. Rules use integer or DOUBLE literals (`60.0D`, `double_literal`).
- `to_json` writes timestamps as `...T10:00:00.000Z` on Spark and `...T10:00:00.000000Z` on Sail:
  `row_json` casts timestamps to string first (`2026-01-01 10:00:00` on both).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import NamedTuple

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

REJECT_COLUMNS = ("table", "rule", "row_json")
REJECT_SCHEMA = StructType([StructField(name, StringType()) for name in REJECT_COLUMNS])

# Regexes, anchored with \A and \z so that both engines read them the same way (see above).
COUNTRY_CODE = r"\A[A-Z]{2}\z"
CURRENCY_CODE = r"\A[A-Z]{3}\z"
EMAIL = r"\A[^@\s]+@[^@\s]+\.[^@\s]+\z"
YEAR_MONTH = r"\A[0-9]{4}-(0[1-9]|1[0-2])\z"
DATE_TEXT = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
TIMESTAMP_TEXT = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\z"
ISO_UTC_TEXT = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\z"

# A parameter of a rule's SQL left to set at run time, e.g. `{latest_event_time}`.
_PARAMETER = re.compile(r"\{[a-z_]+\}")

_RULE = "__failed_rule"
_RANK = "__rank"


@dataclass(frozen=True)
class Rule:
    """A row-level check: the row is rejected as `name` when `fails_when` (Spark SQL) is TRUE."""

    name: str
    fails_when: str


class Built(NamedTuple):
    """What a silver transform returns: the table's rows and the rows it rejected.

    Both usually come from one checked frame (`split_rejects`: every row with the rule it fails,
    if any). Then `checked` is that frame and `take` takes the rows and rejects from it, so that a
    job can compute the frame once (into Parquet) instead of once for the rows and once more for
    the rejects: `from_checked(staged)`. `combine` and a Built made by hand have neither.
    """

    rows: DataFrame
    rejects: DataFrame
    checked: DataFrame | None = None
    take: Callable[[DataFrame], tuple[DataFrame, DataFrame]] | None = None

    def map_rows(self, fn: Callable[[DataFrame], DataFrame]) -> Built:
        """`fn` applied to the rows (and to the rows `from_checked` takes)."""
        take = self.take
        if take is None:
            return Built(fn(self.rows), self.rejects)

        def taken(checked: DataFrame) -> tuple[DataFrame, DataFrame]:
            rows, rejects = take(checked)
            return fn(rows), rejects

        return Built(fn(self.rows), self.rejects, self.checked, taken)

    def from_checked(self, checked: DataFrame) -> Built:
        """The rows and rejects taken from `checked`, this Built's checked frame computed elsewhere
        (the same columns and rows); itself when it has no checked frame."""
        if self.take is None:
            return self
        rows, rejects = self.take(checked)
        return Built(rows, rejects)


# -- rules --------------------------------------------------------------------------------------
def sql_regex(pattern: str) -> str:
    """`pattern` as a Spark SQL string literal (backslashes and quotes escaped)."""
    return "'" + pattern.replace("\\", "\\\\").replace("'", "\\'") + "'"


def not_matching(column: str, pattern: str, nullable: bool = False) -> str:
    """SQL that is TRUE when `column` does not match `pattern` (or is null, unless `nullable`)."""
    mismatch = f"NOT ({column} RLIKE {sql_regex(pattern)})"
    return f"{column} IS NOT NULL AND {mismatch}" if nullable else f"{column} IS NULL OR {mismatch}"


def not_in(column: str, values: Sequence[str]) -> str:
    """SQL that is TRUE when `column` is null or not one of `values`."""
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IS NULL OR {column} NOT IN ({listed})"


def double_literal(value: float) -> str:
    """A Spark SQL DOUBLE literal. `60.0` alone is a DECIMAL literal, and Sail compares a double
    column with it by casting the column to decimal, which fails on NaN (and on huge values)."""
    text = repr(float(value))
    return text if "e" in text else f"{text}D"


def outside(column: str, low: float, high: float, nullable: bool = False) -> str:
    """SQL that is TRUE when `column` is NaN or outside [low, high] (or null, unless `nullable`)."""
    bad = f"isnan({column}) OR {column} < {double_literal(low)} OR {column} > {double_literal(high)}"
    return f"{column} IS NOT NULL AND ({bad})" if nullable else f"{column} IS NULL OR {bad}"


def first_failing_rule(rules: Sequence[Rule]) -> Column:
    """The name of the first rule the row fails, or null."""
    if not rules:
        return F.lit(None).cast(StringType())
    for rule in rules:
        unset = _PARAMETER.search(rule.fails_when)
        if unset:
            raise ValueError(f"rule {rule.name}: {unset.group()} is not set (bind the rules to the run first)")
    checks = [F.when(F.coalesce(F.expr(r.fails_when), F.lit(False)), F.lit(r.name)) for r in rules]
    return F.coalesce(*checks)


def json_struct(df: DataFrame, columns: Sequence[str] | None = None) -> Column:
    """`struct(columns)` for `to_json`, timestamps as text so both engines write the same JSON."""
    types = {f.name: f.dataType for f in df.schema.fields}
    names = list(columns) if columns is not None else df.columns

    def field(name: str) -> Column:
        column = F.col(name)
        return column.cast(StringType()).alias(name) if isinstance(types[name], TimestampType) else column

    return F.struct(*[field(n) for n in names])


def split_rejects(df: DataFrame, table: str, rules: Sequence[Rule], payload: str | None = None) -> Built:
    """Rows failing any of `rules` (first failing rule wins) → rejects; the rest → rows.

    `rows` has exactly the columns of `df`. `row_json` is `to_json(struct(every column of df))`;
    when `payload` names a struct column (e.g. the bronze row before typing, from `json_struct`),
    that struct is written instead, so a reject shows the row as it arrived. In the checked frame
    (`Built.checked`) only rejected rows keep `payload`: rows taken from it have it null.
    """
    flagged = df.withColumn(_RULE, first_failing_rule(rules))
    checked = flagged
    if payload is not None:  # only rejects show their payload: the frame to stage stays small
        checked = flagged.withColumn(payload, F.when(F.col(_RULE).isNotNull(), F.col(payload)))

    def take(frame: DataFrame) -> tuple[DataFrame, DataFrame]:
        record = F.col(payload) if payload is not None else json_struct(frame, df.columns)
        rows = frame.where(F.col(_RULE).isNull()).select(*df.columns)
        rejects = frame.where(F.col(_RULE).isNotNull()).select(
            F.lit(table).alias("table"), F.col(_RULE).alias("rule"), F.to_json(record).alias("row_json")
        )
        return rows, rejects

    return Built(*take(flagged), checked, take)


def empty_rejects(spark: SparkSession) -> DataFrame:
    """A rejects frame with no rows."""
    return spark.createDataFrame([], REJECT_SCHEMA)


def combine(first: Built, *more: Built) -> Built:
    """The rows of the last step with the rejects of every step (for transforms in stages)."""
    rejects = reduce(lambda a, b: a.unionByName(b), [b.rejects for b in more], first.rejects)
    return Built((more[-1] if more else first).rows, rejects)


# -- shared steps -------------------------------------------------------------------------------
def keep_first(df: DataFrame, keys: Sequence[str], order: Sequence[Column], repeats_rare: bool = False) -> DataFrame:
    """One row per key, the first by `order`. Rows with a null key are all kept, so that a key
    rule rejects each of them instead of deduplication silently dropping all but one.

    `repeats_rare`: most keys have one row (first landings, where a repeat is a re-delivery), so
    only the rows of keys seen more than once are ranked, and the others pass as they are. The
    same rows; `df` is read three times, but a window over every row sorts the whole frame: a
    million clickstream events' silver build took 2.2-2.4 s against 1.1-1.3 s on the embedded
    engine (docs/engines.md). Read `df` at one version: the three reads must see the same rows.
    """
    if not repeats_rare:
        return _ranked_first(df, keys, order)
    repeated = df.groupBy(*keys).count().where(F.col("count") > 1).drop("count")
    # a null key joins nothing: every row with one stays in `once`, as `_ranked_first` keeps them all
    once = df.join(repeated, list(keys), "left_anti")
    ranked = _ranked_first(df.join(repeated, list(keys), "left_semi"), keys, order)
    return once.unionByName(ranked)


def _ranked_first(df: DataFrame, keys: Sequence[str], order: Sequence[Column]) -> DataFrame:
    window = Window.partitionBy(*keys).orderBy(*order)
    null_key = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in keys])
    ranked = df.withColumn(_RANK, F.row_number().over(window))
    return ranked.where((F.col(_RANK) == 1) | null_key).drop(_RANK)


def parse_timestamp(column: str, pattern: str, shape: str) -> Column:
    """Text → timestamp; null when the text is not exactly `shape` (a regex) or not a real time."""
    return F.when(F.col(column).rlike(shape), F.try_to_timestamp(F.col(column), F.lit(pattern)))


def parse_text_timestamp(column: str) -> Column:
    """App database text `YYYY-MM-DD HH:MM:SS` (UTC) → timestamp."""
    return parse_timestamp(column, "yyyy-MM-dd HH:mm:ss", TIMESTAMP_TEXT)


def parse_iso_timestamp(column: str) -> Column:
    """ISO-8601 UTC text `YYYY-MM-DDTHH:MM:SSZ` → timestamp."""
    return parse_timestamp(column, "yyyy-MM-dd'T'HH:mm:ss'Z'", ISO_UTC_TEXT)


def parse_date(column: str) -> Column:
    """Text `YYYY-MM-DD` → date."""
    return F.to_date(parse_timestamp(column, "yyyy-MM-dd", DATE_TEXT))


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """The columns of `schema`, in its order, cast to its types."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
