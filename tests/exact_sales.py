"""Sales recomputed exactly from the sources (the app database and the rates file), with Python's
own arithmetic, independently of the code under test.

Prices and discounts are the decimals the app database's REAL cents and fractions stand for (their
shortest text), rates as the rates file writes them. A line's EUR amount is the exact quotient
`quantity * unit_price * (1 - discount) / rate` rounded half-up to 10 decimals; revenue is the sum
of those, rounded half-up to cents at the end; an average is the rounded revenue over the count,
rounded half-up to cents.
"""

from __future__ import annotations

import contextlib
import csv
import math
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

TEN_DECIMALS, CENT = Decimal("1e-10"), Decimal("0.01")
Line = tuple[str, int, str, str, str, int, str, int, Decimal]


def half_up(value: Fraction | Decimal, step: Decimal = CENT) -> Decimal:
    """`value` (exact, not negative) rounded half-up to a multiple of `step`."""
    units = Fraction(value) / Fraction(step)
    return Decimal(math.floor(units + Fraction(1, 2))) * step


def rates(sources_dir: Path) -> dict[tuple[str, str], Decimal]:
    with open(sources_dir / "fx" / "rates.csv", newline="") as handle:
        return {(r["date"], r["currency"]): Decimal(r["rate"]) for r in csv.DictReader(handle)}


def net_eur(quantity: int, unit_price: float, discount: float, rate: Decimal) -> Decimal:
    """A line's EUR amount, the exact quotient rounded half-up to 10 decimals."""
    gross = quantity * Fraction(Decimal(repr(unit_price))) * (1 - Fraction(Decimal(repr(discount))))
    return half_up(gross / Fraction(rate), TEN_DECIMALS)


def source_lines(sources_dir: Path) -> list[Line]:
    """(order_date, customer_id, order_ts, current country or ZZ, category, order_id, status,
    quantity, EUR amount) per item of an order whose product exists."""
    fx = rates(sources_dir)
    query = """
        SELECT substr(o.order_ts, 1, 10), o.customer_id, o.order_ts, coalesce(c.country, 'ZZ'), p.category,
               o.order_id, o.status, o.currency, i.quantity, i.unit_price, i.discount
        FROM orders o
        JOIN order_items i ON i.order_id = o.order_id
        JOIN products p ON p.product_id = i.product_id
        LEFT JOIN customers c ON c.customer_id = o.customer_id
    """
    # Closed here, not left to the garbage collector: an open read transaction holds a lock on the
    # app database that blocks the generator's next write.
    with contextlib.closing(sqlite3.connect(sources_dir / "app.db")) as con:
        rows = con.execute(query).fetchall()
    return [
        (day, cid, ts, country, category, oid, status, qty, net_eur(qty, price, discount, fx[(day, currency)]))
        for day, cid, ts, country, category, oid, status, currency, qty, price, discount in rows
    ]


def expected_daily_sales(
    sources_dir: Path, country_of: Callable[[int, str], str] | None = None
) -> dict[tuple[str, str, str], tuple[int, int, Decimal, Decimal]]:
    """(order_date, country, category) → (orders, units, revenue_eur, avg_order_value_eur) of
    gold.daily_sales. `country_of(customer_id, order_ts)` names the country at the order's time;
    without it, the app database's current country (ZZ for a customer it does not hold)."""
    groups: dict[tuple[str, str, str], tuple[set[int], int, Decimal]] = {}
    for day, cid, ts, country, category, oid, status, qty, net in source_lines(sources_dir):
        if status == "cancelled":
            continue
        key = (day, country if country_of is None else country_of(cid, ts), category)
        orders, units, total = groups.get(key, (set(), 0, Decimal(0)))
        groups[key] = (orders | {oid}, units + qty, total + net)
    out = {}
    for key, (orders, units, total) in groups.items():
        revenue = half_up(total)
        out[key] = (len(orders), units, revenue, half_up(Fraction(revenue) / len(orders)))
    return out


def expected_lifetime_values(sources_dir: Path, as_of: str) -> dict[int, Decimal]:
    """customer_id → gold.customer_features' lifetime_value_eur as of `as_of`, for every customer
    with an order on or before it."""
    totals: dict[int, Decimal] = {}
    for day, cid, _, _, _, _, status, _, net in source_lines(sources_dir):
        if day <= as_of:
            totals[cid] = totals.get(cid, Decimal(0)) + (net if status != "cancelled" else Decimal(0))
    return {cid: half_up(total) for cid, total in totals.items()}


def expected_daily_order_values(sources_dir: Path) -> dict[str, tuple[Decimal, int, Decimal]]:
    """order_date → (revenue_eur, orders, avg_order_value_eur) of the average-order-value KPI:
    each (day, country)'s revenue rounded half-up to cents, summed per day; distinct
    non-cancelled orders; revenue over orders rounded half-up to cents."""
    per_country: dict[tuple[str, str], Decimal] = {}
    orders: dict[str, set[int]] = {}
    for day, _, _, country, _, oid, status, _, net in source_lines(sources_dir):
        if status == "cancelled":
            continue
        per_country[(day, country)] = per_country.get((day, country), Decimal(0)) + net
        orders.setdefault(day, set()).add(oid)
    revenue: dict[str, Decimal] = {}
    for (day, _), total in per_country.items():
        revenue[day] = revenue.get(day, Decimal(0)) + half_up(total)
    return {
        day: (revenue[day], len(ids), half_up(Fraction(revenue[day]) / len(ids))) for day, ids in orders.items()
    }
