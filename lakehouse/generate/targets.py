"""Sales targets as operators keep them: a hand-edited CSV, re-uploaded whole.

One row per (country, month) for every month the world spans plus the next one. Each month's
rows depend only on the seed, the scale and the month, so extending the world keeps earlier rows
as they were. The hand-editing shows: blank lines, a country typo (`Germny`), a lowercase padded
code (` fr `), targets like `n/a` or `12k`, stray spaces.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np

from lakehouse.files import Location
from lakehouse.generate.files import write_atomic
from lakehouse.generate.model import COUNTRIES, Clock, Size, Stream, day_rng

log = logging.getLogger(__name__)

HEADER = "country,month,target_revenue_eur"
# Rough average order value in EUR, to put targets near what the world sells.
ORDER_VALUE_EUR = 30.0


def months_spanned(clock: Clock, days: int) -> list[dt.date]:
    """First days of the months from the start to the last day, plus the following month."""
    first, last = clock.start.replace(day=1), clock.date(days - 1).replace(day=1)
    months = [first]
    while months[-1] <= last:
        current = months[-1]
        months.append(current.replace(year=current.year + current.month // 12, month=current.month % 12 + 1))
    return months


def _days_in(month: dt.date) -> int:
    following = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
    return (following - month).days


def _spoil(rng: np.random.Generator, rows: list[list[str]], first_month: bool) -> None:
    """Hand-editing mistakes; the first month always has a typo, a padded code and two bad targets."""
    picks = rng.permutation(np.arange(2, len(rows)))  # rows 0, 1 are DE and FR
    if first_month:
        rows[0][0], rows[1][0] = "Germny", " fr "
        rows[picks[0]][2] = "n/a"
        rows[picks[1]][2] = f"{round(float(rows[picks[1]][2]) / 1000)}k"
        return
    if rng.random() < 0.4:
        rows[picks[0]][2] = "n/a" if rng.random() < 0.5 else f"{round(float(rows[picks[0]][2]) / 1000)}k"
    if rng.random() < 0.3:
        rows[picks[1]][0] = f" {rows[picks[1]][0].lower()} "
    if rng.random() < 0.3:
        rows[picks[2]][2] = f" {rows[picks[2]][2]}  "


def _month_lines(seed: int, size: Size, index: int, month: dt.date) -> list[str]:
    rng = day_rng(seed, index, Stream.TARGETS)
    monthly = size.orders_per_day * ORDER_VALUE_EUR * _days_in(month)
    rows = [
        [code, month.strftime("%Y-%m"), f"{round(monthly * share * float(rng.uniform(0.9, 1.2)), -2):.2f}"]
        for code, _, share in COUNTRIES
    ]
    _spoil(rng, rows, index == 0)
    lines = [",".join(row) for row in rows]
    if index == 0 or rng.random() < 0.3:
        lines.append("")
    return lines


def write_targets(path: Location, seed: int, size: Size, clock: Clock, days: int) -> int:
    """Write the whole targets file; returns its number of (non-blank) rows."""
    lines = [HEADER]
    for index, month in enumerate(months_spanned(clock, days)):
        lines += _month_lines(seed, size, index, month)
    write_atomic(path, ("\n".join(lines) + "\n").encode())
    return sum(1 for line in lines[1:] if line.strip())
