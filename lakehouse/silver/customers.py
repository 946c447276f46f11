"""silver.customers: a type-2 slowly changing dimension over every customer extract in bronze.

- Versions come from every bronze extract; the same (customer_id, updated_at) extracted twice is
  one version (the latest ingestion wins).
- Rules run on each version before history is built, so a rejected version is not part of it
  (the previous version stays valid until the next good one).
- Identical consecutive versions (same email, name, country, address) collapse into the first.
- `valid_from` is the version's `updated_at`; the first version's is `created_at` (the earlier
  of the two, so a broken `created_at` cannot reorder history), so orders placed before the first
  extract still find a country. `valid_to` is the next version's `valid_from`, null for the
  current version; `is_current = valid_to IS NULL`.
- Customers with an erasure request keep all their versions with `email`, `name` and `address`
  null and `is_erased = true`. Their personal data is masked before anything else, so it never
  reaches `silver.rejects` either; versions are compared on the unmasked values, so an erased
  customer keeps exactly the versions they would have had.
- Increments recompute whole customers, from all of their bronze rows: those with rows landed
  since the last run, and those with a new erasure request.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.personal import PersonalData
from lakehouse.quality.rules import (
    COUNTRY_CODE,
    EMAIL,
    Built,
    Rule,
    conform,
    json_struct,
    keep_first,
    not_matching,
    parse_text_timestamp,
    split_rejects,
)
from lakehouse.tables import ByGroups, TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "customer_id": "the customer (app database id)",
    "email": "email of this version; null once erased",
    "name": "name of this version; null once erased",
    "country": "country of this version (ISO 3166 alpha-2)",
    "address": "address of this version; null once erased",
    "created_at": "when the customer was created in the app (UTC)",
    "updated_at": "when the app last changed this version (UTC)",
    "valid_from": "start of this version's validity (UTC); the first version's is created_at",
    "valid_to": "start of the next version (UTC); null for the current version",
    "is_current": "whether this is the customer's current version (valid_to IS NULL)",
    "is_erased": "whether the customer asked to be erased (personal columns are null)",
}
SCHEMA = StructType(
    [
        StructField("customer_id", LongType()),
        StructField("email", StringType()),
        StructField("name", StringType()),
        StructField("country", StringType()),
        StructField("address", StringType()),
        StructField("created_at", TimestampType()),
        StructField("updated_at", TimestampType()),
        StructField("valid_from", TimestampType()),
        StructField("valid_to", TimestampType()),
        StructField("is_current", BooleanType()),
        StructField("is_erased", BooleanType()),
    ]
)
RULES = [
    Rule("customer_id_missing", "customer_id IS NULL"),
    # A version without a readable updated_at cannot be placed in history.
    Rule("updated_at_invalid", "updated_at IS NULL"),
    Rule("country_invalid", not_matching("country", COUNTRY_CODE)),
    Rule("email_malformed", not_matching("email", EMAIL, nullable=True)),
]
PERSONAL = ("email", "name", "address")
# The version's content: what makes two consecutive versions different.
CONTENT = ["email", "name", "country", "address"]
_PAYLOAD = "_bronze"
SPEC = TableSpec(
    name="silver.customers",
    key=("customer_id", "valid_from"),
    comments=COMMENTS,
    schema=SCHEMA,
    personal=PersonalData("silver.customers", columns=PERSONAL),
    inputs=frozen({"bronze_customers": "bronze.customers", "bronze_erasures": "bronze.erasure_requests"}),
    # Increments: customers are recomputed whole, from every bronze row and erasure request of theirs.
    incremental=ByGroups(
        source="bronze.customers",
        group_key="customer_id",
        keyed_inputs=("bronze.customers", "bronze.erasure_requests"),
        tracked=frozen({"bronze.erasure_requests": ("customer_id",)}),
    ),
    rules=tuple(RULES),
)


def _mask_erased(bronze: DataFrame, erasures: DataFrame) -> DataFrame:
    """Flag erased customers, keep unmasked copies (`_email`, ...) and null the public columns."""
    erased = erasures.where(F.col("customer_id").isNotNull()).select("customer_id").distinct()
    flagged = bronze.join(erased.withColumn("is_erased", F.lit(True)), "customer_id", "left").withColumn(
        "is_erased", F.coalesce(F.col("is_erased"), F.lit(False))
    )
    for column in PERSONAL:
        flagged = flagged.withColumn(f"_{column}", F.col(column)).withColumn(
            column, F.when(~F.col("is_erased"), F.col(column))
        )
    return flagged


def _typed_versions(bronze: DataFrame, erasures: DataFrame) -> DataFrame:
    """One row per extracted version: bronze payload, masked columns, typed timestamps."""
    versions = keep_first(bronze, ["customer_id", "updated_at"], [F.col("_ingested_at").desc_nulls_last()])
    masked = _mask_erased(versions, erasures)
    masked = masked.withColumn(_PAYLOAD, json_struct(masked, bronze.columns))
    return masked.withColumn("created_at", parse_text_timestamp("created_at")).withColumn(
        "updated_at", parse_text_timestamp("updated_at")
    )


def _history(versions: DataFrame) -> DataFrame:
    """Collapse identical consecutive versions and give each one its validity interval."""
    order = Window.partitionBy("customer_id").orderBy("updated_at", "_ingested_at")
    unchanged = F.row_number().over(order) > 1
    for column in (f"_{c}" if c in PERSONAL else c for c in CONTENT):  # unmasked values
        unchanged = unchanged & F.col(column).eqNullSafe(F.lag(column).over(order))
    kept = versions.withColumn("_unchanged", unchanged).where(~F.col("_unchanged"))
    first = F.row_number().over(order) == 1
    dated = kept.withColumn(
        "valid_from", F.when(first, F.least("created_at", "updated_at")).otherwise(F.col("updated_at"))
    )
    return dated.withColumn("valid_to", F.lead("valid_from").over(order)).withColumn(
        "is_current", F.col("valid_to").isNull()
    )


def build_customers(bronze_customers: DataFrame, bronze_erasures: DataFrame) -> Built:
    """bronze.customers + bronze.erasure_requests → silver.customers (SCD2) and its rejects."""
    versions = _typed_versions(bronze_customers, bronze_erasures)
    checked = split_rejects(versions, SPEC.name, RULES, payload=_PAYLOAD)
    return checked.map_rows(lambda rows: conform(_history(rows), SCHEMA))


def affected_groups(
    new_customers: DataFrame,
    changed: Mapping[str, DataFrame],
    inputs: Mapping[str, DataFrame],
    previous: Mapping[str, DataFrame],
) -> DataFrame:
    """The customers an increment recomputes (one distinct `customer_id` column, null standing for
    the rows without one): those with bronze rows landed since the last run, and those whose
    erasure requests changed."""
    parts = [new_customers.select("customer_id")]
    if "bronze.erasure_requests" in changed:
        erased = changed["bronze.erasure_requests"].where(F.col("customer_id").isNotNull())
        parts.append(erased.select(F.col("customer_id").cast(LongType()).alias("customer_id")))
    return reduce(DataFrame.unionByName, parts).distinct()
