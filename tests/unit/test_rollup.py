"""`Frame.rollup` against the same filter and GROUP BY written in SQL and run by DuckDB, on random
tables with nulls in every column, empty ranges, unknown countries and several group columns."""

from __future__ import annotations

import datetime as dt
import math
import random

import duckdb
import pyarrow as pa
import pytest

from lakehouse.serving.rollup import Frame

DAY0 = dt.date(2026, 3, 1)
COUNTRIES = ["DE", "FR", "NL", None]
CATEGORIES = ["books", "garden", None]


def _table(rnd: random.Random, rows: int) -> pa.Table:
    def maybe(value: object) -> object:
        return None if rnd.random() < 0.1 else value

    return pa.table({
        "day": pa.array([maybe(DAY0 + dt.timedelta(rnd.randint(0, 20))) for _ in range(rows)], pa.date32()),
        "country": pa.array([rnd.choice(COUNTRIES) for _ in range(rows)], pa.string()),
        "category": pa.array([rnd.choice(CATEGORIES) for _ in range(rows)], pa.string()),
        "units": pa.array([maybe(rnd.randint(-5, 50)) for _ in range(rows)], pa.int64()),
        "amount": pa.array([maybe(rnd.uniform(-10, 100)) for _ in range(rows)], pa.float64()),
        "temp": pa.array([maybe(rnd.uniform(-30, 30)) for _ in range(rows)], pa.float64()),
    })


def _sql(by: list[str], start: dt.date, end: dt.date, countries: list[str]) -> str:
    where = f"day BETWEEN DATE '{start}' AND DATE '{end}'"
    if countries:
        where += " AND country IN ({})".format(", ".join(f"'{c}'" for c in countries))
    keys = ", ".join(by)
    select = f"{keys}, " if by else ""
    group = f" GROUP BY {keys}" if by else ""
    return f"SELECT {select}SUM(units) AS units, SUM(amount) AS amount, MAX(temp) AS temp FROM t WHERE {where}{group}"


def _key(row: dict[str, object], by: list[str]) -> tuple[object, ...]:
    return tuple(row[name] for name in by)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("seed", range(6))
def test_a_rollup_equals_the_sql_group_by(seed: int) -> None:
    rnd = random.Random(seed)
    table = _table(rnd, rnd.choice([0, 1, 40, 400]))
    frame = Frame(table, date="day", country="country")
    db = duckdb.connect()
    db.register("t", table)
    cases = 0
    for by in ([], ["day"], ["country"], ["category"], ["country", "category"], ["day", "category"]):
        for _ in range(8):
            start = DAY0 + dt.timedelta(rnd.randint(-3, 22))
            end = start + dt.timedelta(rnd.randint(-1, 10))  # an end before the start selects nothing
            countries = rnd.sample(["DE", "FR", "NL", "XX"], rnd.randint(0, 2))
            got = frame.rollup(by=by, sums=["units", "amount"], maxes=["temp"], start=start, end=end,
                               countries=countries)
            cursor = db.execute(_sql(by, start, end, countries))
            names = [d[0] for d in cursor.description]
            expected = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            assert len(got) == len(expected), (by, start, end, countries)
            by_key = {_key(row, by): row for row in expected}
            for row in got:
                want = by_key[_key(row, by)]
                assert _same(row["units"], int(want["units"]) if want["units"] is not None else None)
                assert _same(row["amount"], want["amount"])
                assert _same(row["temp"], want["temp"])
            cases += 1
    assert cases == 48


def test_maxima_and_sums_of_nothing_are_null_and_a_grand_total_has_one_row() -> None:
    table = pa.table({"day": pa.array([DAY0, DAY0], pa.date32()), "country": ["DE", "FR"],
                      "units": pa.array([None, 3], pa.int64()), "temp": pa.array([None, 7.5], pa.float64())})
    frame = Frame(table, date="day", country="country")
    assert frame.rollup(by=["country"], sums=["units"], maxes=["temp"], start=DAY0, end=DAY0) in (
        [{"country": "DE", "units": None, "temp": None}, {"country": "FR", "units": 3, "temp": 7.5}],
        [{"country": "FR", "units": 3, "temp": 7.5}, {"country": "DE", "units": None, "temp": None}],
    )
    empty = dt.date(2000, 1, 1)
    assert frame.rollup(sums=["units"], maxes=["temp"], start=empty, end=empty) == [{"units": None, "temp": None}]
    assert frame.rollup(by=["country"], sums=["units"], start=empty, end=empty) == []
    assert frame.rollup(sums=["units"], countries=["XX"]) == [{"units": None}]


def test_a_decimal_column_sums_to_exact_cents() -> None:
    # 0.10 + 0.20 is 0.30000000000000004 in floats; ten thousand such cents drift further
    from decimal import Decimal

    rnd = random.Random(5)
    amounts = [Decimal(rnd.randint(0, 10_000_000)).scaleb(-2) for _ in range(10_000)] + [None]
    days = [DAY0 + dt.timedelta(i % 7) for i in range(len(amounts))]
    table = pa.table({"day": pa.array(days, pa.date32()), "revenue": pa.array(amounts, pa.decimal128(18, 2))})
    frame = Frame(table, date="day")
    (total,) = frame.rollup(sums=["revenue"])
    assert total["revenue"] == sum(a for a in amounts if a is not None)
    assert isinstance(total["revenue"], Decimal) and total["revenue"].as_tuple().exponent == -2
    per_day = {r["day"]: r["revenue"] for r in frame.rollup(by=["day"], sums=["revenue"])}
    for day in set(days):
        assert per_day[day] == sum(a for a, d in zip(amounts, days, strict=True) if d == day and a is not None)
    (tenths,) = Frame(pa.table({"x": pa.array([Decimal("0.10"), Decimal("0.20")], pa.decimal128(18, 2))})).rollup(
        sums=["x"]
    )
    assert str(tenths["x"]) == "0.30"


def test_a_sum_of_decimals_wider_than_int64_stays_exact() -> None:
    from decimal import Decimal

    # DuckDB's SUM of a decimal is decimal(38, s); values past 18 digits are summed as Python ints
    wide = pa.table({"x": pa.array([Decimal("12345678901234567890.12"), Decimal("1.00"), None], pa.decimal128(38, 2))})
    assert Frame(wide).rollup(sums=["x"]) == [{"x": Decimal("12345678901234567891.12")}]
    narrow = pa.table({"x": pa.array([Decimal("0.01")] * 3, pa.decimal128(38, 2))})
    assert str(Frame(narrow).rollup(sums=["x"])[0]["x"]) == "0.03"
