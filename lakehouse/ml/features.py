"""Churn features and labels, point-in-time correct.

Features as of a cut-off use only data dated on or before it: they are the columns of
`gold.customer_features` built by the same pure function (`build_customer_features`) with
`as_of=cutoff`, plus `tenure_days`. The label `churned` is 1 when the customer places no order in
the `horizon_days` after the cut-off (the data contract's definition), else 0.

Customers are those with an order on or before the cut-off. Missing values are allowed and
documented: `avg_order_value_eur` is null for a customer whose orders were all cancelled,
`sessions_30d` and `cart_abandon_rate_30d` are null without recent browsing (or without a cart).
The model pipeline imputes them (median, plus a missing-value indicator), so scoring never fails
on them.

Cold-chain exposure is not a feature: the only link from a customer to the van that delivers to
them is in the generator's hidden state, which the lakehouse never reads; no public source carries
it.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.gold.customer_features import build_customer_features

FEATURES = [
    "orders_count",
    "lifetime_value_eur",
    "avg_order_value_eur",
    "days_since_last_order",
    "sessions_30d",
    "cart_abandon_rate_30d",
    "tenure_days",
]
LABEL = "churned"


def with_model_features(features: DataFrame) -> DataFrame:
    """`gold.customer_features` rows → customer_id + FEATURES as doubles (as_of_date kept)."""
    tenure = F.datediff(F.col("as_of_date"), F.col("first_order_date"))
    out = features.withColumn("tenure_days", tenure)
    return out.select("customer_id", "as_of_date", *[F.col(c).cast("double").alias(c) for c in FEATURES])


def build_training_set(
    orders: DataFrame,
    order_lines: DataFrame,
    events: DataFrame,
    customers: DataFrame,
    cutoff: dt.date,
    horizon_days: int,
) -> DataFrame:
    """One row per customer with an order on or before `cutoff`: FEATURES as of `cutoff` and LABEL."""
    features = with_model_features(build_customer_features(orders, order_lines, events, customers, as_of=cutoff))
    end = cutoff + dt.timedelta(days=horizon_days)
    window = (F.col("order_date") > F.lit(cutoff)) & (F.col("order_date") <= F.lit(end))
    active = orders.where(window & F.col("customer_id").isNotNull()).select("customer_id").distinct()
    flagged = features.join(active.withColumn("_active", F.lit(1)), "customer_id", "left")
    label = F.when(F.col("_active").isNull(), 1).otherwise(0).cast("int").alias(LABEL)
    return flagged.select("customer_id", *FEATURES, label)
