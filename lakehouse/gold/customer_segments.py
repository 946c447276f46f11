"""gold.customer_segments: what the CRM knows about each customer (the reverse-ETL source).

One row per customer in gold.customer_features who has a current, non-erased row with an email in
silver.customers (an erased customer drops out, so the sync deletes their CRM contact):
`email`, `country`, `segment`, `churn_probability` (from gold.customer_churn_scores; null before
the first `lakehouse score`), `lifetime_value_eur`, `updated_at` (the features' as-of date).

Segments, first matching rule wins (thresholds in config `segments`):
1. `dormant`  — no order for more than `dormant_days` (60) days;
2. `at_risk`  — churn probability at least `at_risk_probability` (0.6);
3. `vip`      — lifetime value at least `vip_ltv_eur` (1000 EUR);
4. `new`      — first order within the last `new_days` (30) days;
5. `regular`  — everyone else.
Only this gold table carries a direct identifier (email), as the data contract allows.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import money
from lakehouse.config import SegmentsConfig
from lakehouse.personal import PersonalData
from lakehouse.quality.suites import critical, expect
from lakehouse.tables import TableSpec, frozen

SEGMENTS = ["dormant", "at_risk", "vip", "new", "regular"]
# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "customer_id": "the customer",
    "email": "the customer's current email (personal data: the CRM sync's key)",
    "country": "current country (ISO 3166 alpha-2)",
    "segment": "dormant, at_risk, vip, new or regular: the first rule that matches (config `segments`)",
    "churn_probability": "from gold.customer_churn_scores; null before the first `lakehouse score`",
    "lifetime_value_eur": "as gold.customer_features has it, in EUR",
    "updated_at": "the features' as-of date",
}
SPEC = TableSpec(
    name="gold.customer_segments",
    key=("customer_id",),
    comments=COMMENTS,
    # A segment row without its email is of no use to the CRM: an erased customer's row is deleted.
    personal=PersonalData("gold.customer_segments", columns=("email",), delete_rows=True),
    inputs=frozen({
        "features": "gold.customer_features",
        "customers": "silver.customers",
        "churn_scores": "gold.customer_churn_scores",
    }),
    expectations=(
        critical(expect("ExpectColumnValuesToBeInSet", column="segment", value_set=SEGMENTS), "segment_unknown"),
        critical(expect("ExpectColumnValuesToNotBeNull", column="email"), "email_missing", "email IS NULL"),
    ),
)


def segment_of(rules: SegmentsConfig) -> F.Column:
    """The first matching segment rule, as a column."""
    return (
        F.when(F.col("days_since_last_order") > rules.dormant_days, "dormant")
        .when(F.col("churn_probability") >= rules.at_risk_probability, "at_risk")
        .when(F.col("lifetime_value_eur") >= F.lit(str(rules.vip_ltv_eur)).cast(money.CENTS), "vip")
        .when(F.datediff(F.col("as_of_date"), F.col("first_order_date")) <= rules.new_days, "new")
        .otherwise("regular")
    )


def build_customer_segments(
    features: DataFrame, customers: DataFrame, churn_scores: DataFrame, rules: SegmentsConfig
) -> DataFrame:
    """gold.customer_features + current silver.customers + gold.customer_churn_scores → segments."""
    contacts = customers.where(F.col("is_current") & ~F.col("is_erased") & F.col("email").isNotNull()).select(
        "customer_id", "email", F.col("country").alias("_country")
    )
    scores = churn_scores.select("customer_id", "churn_probability")
    joined = features.join(contacts, "customer_id").join(scores, "customer_id", "left")
    return joined.select(
        "customer_id",
        "email",
        F.coalesce(F.col("_country"), F.col("country")).alias("country"),
        segment_of(rules).alias("segment"),
        F.col("churn_probability").cast("double").alias("churn_probability"),
        F.col("lifetime_value_eur").cast(money.CENTS).alias("lifetime_value_eur"),
        F.col("as_of_date").cast("timestamp").alias("updated_at"),
    )
