"""gold.customer_segments on inline rows: rule order, erased and email-less customers, no scores."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP
from decimal import Decimal as Dec

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.config import SegmentsConfig
from lakehouse.gold import customer_churn_scores, customer_segments

D = dt.date
AS_OF = D(2026, 4, 30)
FEATURES = (
    "customer_id long, first_order_date date, last_order_date date, orders_count long, "
    "lifetime_value_eur decimal(18,2), avg_order_value_eur decimal(18,2), days_since_last_order int, "
    "sessions_30d long, cart_abandon_rate_30d double, "
    "country string, as_of_date date"
)
CUSTOMERS = "customer_id long, email string, country string, is_current boolean, is_erased boolean"
RULES = SegmentsConfig(vip_ltv_eur=1000, at_risk_probability=0.6, dormant_days=60, new_days=30)


def feature(cid: int, first: D, days_since: int, ltv: float) -> tuple:
    value = Dec(str(ltv)).quantize(Dec("0.01"))
    average = (value / 3).quantize(Dec("0.01"), ROUND_HALF_UP)
    return (cid, first, AS_OF - dt.timedelta(days=days_since), 3, value, average, days_since, 2, 0.5, "DE", AS_OF)


def test_first_matching_rule_wins(spark: SparkSession) -> None:
    features = spark.createDataFrame([
        feature(1, D(2025, 1, 1), 90, 5000.0),   # dormant beats vip
        feature(2, D(2026, 1, 1), 5, 5000.0),    # at_risk (p 0.7) beats vip
        feature(3, D(2026, 1, 1), 5, 1000.0),    # vip at the threshold
        feature(4, D(2026, 4, 10), 3, 50.0),     # new (20 days)
        feature(5, D(2026, 1, 1), 10, 50.0),     # regular
        feature(6, D(2026, 1, 1), 10, 50.0),     # erased: left out
        feature(7, D(2026, 1, 1), 10, 50.0),     # no email: left out
        feature(8, D(2026, 1, 1), 10, 999.99),   # a cent below vip: regular
    ], FEATURES)
    customers = spark.createDataFrame([
        (1, "a@x.de", "DE", True, False), (2, "b@x.de", "FR", True, False), (3, "c@x.de", "DE", True, False),
        (4, "d@x.de", "DE", True, False), (5, "e@x.de", "DE", False, False), (5, "e2@x.de", "IT", True, False),
        (6, None, "DE", True, True), (7, None, "DE", True, False), (8, "h@x.de", "DE", True, False),
    ], CUSTOMERS)
    scores = spark.createDataFrame(
        [(2, 0.7, "churn", "3", None, 1, AS_OF), (3, 0.59, "churn", "3", None, 1, AS_OF)],
        customer_churn_scores.SPEC.schema,
    )
    got = customer_segments.build_customer_segments(features, customers, scores, RULES)
    at = dt.datetime(2026, 4, 30, tzinfo=dt.UTC)
    expected = spark.createDataFrame([
        (1, "a@x.de", "DE", "dormant", None, Dec("5000.00"), at),
        (2, "b@x.de", "FR", "at_risk", 0.7, Dec("5000.00"), at),
        (3, "c@x.de", "DE", "vip", 0.59, Dec("1000.00"), at),
        (4, "d@x.de", "DE", "new", None, Dec("50.00"), at),
        (5, "e2@x.de", "IT", "regular", None, Dec("50.00"), at),
        (8, "h@x.de", "DE", "regular", None, Dec("999.99"), at),
    ], "customer_id long, email string, country string, segment string, churn_probability double, "
       "lifetime_value_eur decimal(18,2), updated_at timestamp")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_without_scores_no_one_is_at_risk(spark: SparkSession) -> None:
    features = spark.createDataFrame([feature(2, D(2026, 1, 1), 5, 5000.0)], FEATURES)
    customers = spark.createDataFrame([(2, "b@x.de", "FR", True, False)], CUSTOMERS)
    empty = spark.createDataFrame([], customer_churn_scores.SPEC.schema)
    got = customer_segments.build_customer_segments(features, customers, empty, RULES).collect()
    assert [(r["segment"], r["churn_probability"]) for r in got] == [("vip", None)]
