"""silver.fx_rates: one rate per day and currency, and rejects."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal as D

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.bronze import fx_rates as bronze_fx
from lakehouse.silver import fx_rates
from tests.unit.silver_rows import bronze, day, frame, rejected


def rate(date: str | None, currency: str | None, value: float | None, ingested: int = 2) -> dict[str, object]:
    return {"date": date, "currency": currency, "rate": value, "_ingested_at": dt.datetime(2026, 1, ingested)}


BRONZE = [
    rate("2026-01-01", "USD", 1.1),
    rate("2026-01-01", "USD", 1.2, ingested=3),  # a re-fetch corrects the day
    rate("2026-01-01", "EUR", 1.0),
    rate("2026-01-02", "USD", 1.15),
    # rejects
    rate("2026-01-02", "JPY", 0.0),
    rate("2026-01-02", "GBP", None),
    rate("2026-01-02", "CHF", math.nan),
    rate("2026-01-02", "usd", 1.1),
    rate("2026-13-01", "USD", 1.1),
    rate("01/02/2026", "USD", 1.1),
]


def test_one_rate_per_day_and_currency(spark: SparkSession) -> None:
    built = fx_rates.build_fx_rates(bronze(spark, bronze_fx.SCHEMA, BRONZE))
    expected = frame(
        spark,
        fx_rates.SPEC.schema,
        [(day("2026-01-01"), "USD", D("1.2")), (day("2026-01-01"), "EUR", D(1)), (day("2026-01-02"), "USD", D("1.15"))],
    )
    assert_df_equality(built.rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_rejects(spark: SparkSession) -> None:
    built = fx_rates.build_fx_rates(bronze(spark, bronze_fx.SCHEMA, BRONZE))
    assert rejected(built, "date", "currency") == sorted(
        [
            ("silver.fx_rates", "rate_not_positive", "2026-01-02", "JPY"),
            ("silver.fx_rates", "rate_not_positive", "2026-01-02", "GBP"),
            ("silver.fx_rates", "rate_not_positive", "2026-01-02", "CHF"),
            ("silver.fx_rates", "currency_invalid", "2026-01-02", "usd"),
            ("silver.fx_rates", "rate_date_invalid", "2026-13-01", "USD"),
            ("silver.fx_rates", "rate_date_invalid", "01/02/2026", "USD"),
        ],
        key=repr,
    )
    spec = fx_rates.SPEC
    assert (spec.name, spec.key, spec.partition_by) == ("silver.fx_rates", ("rate_date", "currency"), ())


def test_rates_are_decimals_and_one_that_does_not_fit_is_rejected(spark: SparkSession) -> None:
    rows = [
        rate("2026-01-03", "JPY", 161.234567),
        rate("2026-01-03", "HUF", 0.12345678),  # 8 decimals: fits DECIMAL(18,8)
        rate("2026-01-03", "USD", 1.123456789),  # 9 decimals: rounding would change the rate
        rate("2026-01-03", "IDR", 1e12),  # more integer digits than DECIMAL(18,8) holds
        rate("2026-01-03", "XAU", math.inf),
    ]
    built = fx_rates.build_fx_rates(bronze(spark, bronze_fx.SCHEMA, rows))
    assert dict(built.rows.schema.fields[2].jsonValue(), name=None)["type"] == "decimal(18,8)"
    got = {r["currency"]: str(r["rate"]) for r in built.rows.collect()}
    assert got == {"JPY": "161.23456700", "HUF": "0.12345678"}
    assert rejected(built, "currency") == sorted(
        [("silver.fx_rates", "rate_not_exact", c) for c in ("USD", "IDR", "XAU")], key=repr
    )
