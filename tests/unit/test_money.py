"""Decimal money on the engine against Python's exact arithmetic, on random lines: the same digits on
Sail and on Apache Spark (whose decimal division rounds and scales differently, docs/engines.md)."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from fractions import Fraction

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import money


def _half_up(value: Fraction, places: int) -> Decimal:
    step = Fraction(1, 10**places)
    units = abs(value) / step
    whole = math.floor(units + Fraction(1, 2))
    return Decimal(whole if value >= 0 else -whole).scaleb(-places)


def _lines(seed: int, count: int) -> list[tuple[int, Decimal, Decimal, Decimal]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        quantity = rnd.choice([1, 2, 3, 7, 12, rnd.randint(1, 10_000)])
        price = Decimal(rnd.randint(1, rnd.choice([999, 99_999, 9_999_999]))).scaleb(-2)
        discount = Decimal(rnd.choice([0, 500, 1000, 1250, 3333, 5000, rnd.randint(0, 9999)])).scaleb(-4)
        rate = Decimal(rnd.randint(1, rnd.choice([2_000_000, 200_000_000, 20_000_000_000]))).scaleb(-8)
        if quantity * price / rate < money.MAX_NET_EUR:  # what silver.order_lines' rules let through
            out.append((quantity, price, discount, rate))
    # a quotient whose 11th decimal is exactly 5 (0.00000000005: up), one just below it (down), and
    # 0.2 / 3 = 0.06666666666|67 (up, where a truncating division would give ...6666)
    cent = Decimal("0.01")
    out += [(1, cent, Decimal(0), Decimal(200_000_000)), (1, cent, Decimal(0), Decimal(200_000_001)),
            (2, Decimal("0.10"), Decimal(0), Decimal(3))]
    return out


def test_line_amounts_are_the_exact_quotient_rounded_half_up(spark: SparkSession) -> None:
    lines = _lines(7, 2000)
    frame = spark.createDataFrame(
        [(i, q, p, d, r) for i, (q, p, d, r) in enumerate(lines)],
        "i bigint, quantity bigint, unit_price decimal(18,2), discount decimal(5,4), rate decimal(18,8)",
    )
    gross = money.gross_amount(F.col("quantity"), F.col("unit_price"), F.col("discount"))
    out = frame.select("i", gross.alias("gross"), money.divide_half_up(gross, F.col("rate")).alias("net"))
    assert [f.dataType for f in out.schema.fields[1:]] == [money.GROSS, money.NET]
    got = {r["i"]: (r["gross"], r["net"]) for r in out.collect()}  # Decimals: equal by value, scale by type
    expected = {}
    for i, (q, p, d, r) in enumerate(lines):
        exact_gross = q * Fraction(p) * (1 - Fraction(d))
        expected[i] = (_half_up(exact_gross, 6), _half_up(exact_gross / Fraction(r), 10))
    assert got == expected


def test_cents_and_averages_round_half_up(spark: SparkSession) -> None:
    rows = [("0.005", 1), ("0.0049999999", 1), ("2.675", 1), ("0.05", 2), ("0.07", 3), ("100.00", 3), ("0.01", 2)]
    frame = spark.createDataFrame([(Decimal(a), n) for a, n in rows], "amount decimal(18,10), n bigint")
    cents = money.cents(F.col("amount"))
    out = frame.select(cents.alias("cents"), money.per(cents, F.col("n")).alias("per"))
    assert [f.dataType for f in out.schema.fields] == [money.CENTS, money.CENTS]
    got = [(str(r["cents"]), str(r["per"])) for r in out.collect()]
    assert got == [("0.01", "0.01"), ("0.00", "0.00"), ("2.68", "2.68"), ("0.05", "0.03"), ("0.07", "0.02"),
                   ("100.00", "33.33"), ("0.01", "0.01")]


def test_a_double_is_admitted_only_when_the_decimal_holds_it_exactly(spark: SparkSession) -> None:
    values = [12.34, 0.1, 19.99, 0.015, 12.345, 1e16, 1e20, float("nan"), float("inf"), -0.01, 0.0, None]
    frame = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i bigint, v double")
    out = frame.select("i", F.expr(money.not_exactly("v", money.PRICE)).alias("bad"),
                       money.as_decimal("v", money.PRICE).alias("d")).orderBy("i").collect()
    admitted = {values[r["i"]]: str(r["d"]) for r in out if not r["bad"] and values[r["i"]] is not None}
    rejected = [values[r["i"]] for r in out if r["bad"]]
    assert admitted == {12.34: "12.34", 0.1: "0.10", 19.99: "19.99", -0.01: "-0.01", 0.0: "0.00"}
    assert [str(v) for v in rejected] == ["0.015", "12.345", "1e+16", "1e+20", "nan", "inf"]
