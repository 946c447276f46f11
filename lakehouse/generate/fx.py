"""Daily FX rates (base EUR) as a random walk of the log rate, and the `fx/rates.csv` file.

Day d's rates depend only on the seed and days 0..d, so the file for more days starts with the
bytes of the file for fewer days. Rates are rounded to 6 decimals before anything uses them: the
order prices and the served rates agree exactly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lakehouse.generate.files import write_atomic
from lakehouse.generate.model import CURRENCIES, FX_START, Clock, Stream, day_rng

log = logging.getLogger(__name__)


def daily_rates(seed: int, days: int) -> np.ndarray:
    """Rates per 1 EUR, shape (days, currencies) in `CURRENCIES` order, rounded to 6 decimals."""
    start = np.log([FX_START[c][0] for c in CURRENCIES])
    vol = np.array([FX_START[c][1] for c in CURRENCIES])
    steps = np.array([day_rng(seed, d, Stream.FX).standard_normal(len(CURRENCIES)) for d in range(days)])
    walk = start + np.cumsum(steps.reshape(days, len(CURRENCIES)) * vol, axis=0)
    return np.round(np.exp(walk), 6)


def rates_of_day(rates: np.ndarray, day: int) -> dict[str, float]:
    return {currency: float(rates[day, i]) for i, currency in enumerate(CURRENCIES)}


def format_rate(rate: float) -> str:
    """Shortest text of a 6-decimal rate: `1`, `1.0834`, `11.4213`."""
    return f"{rate:.6f}".rstrip("0").rstrip(".")


def write_rates_csv(path: Path, clock: Clock, rates: np.ndarray) -> int:
    """Write `date,currency,rate` for every day and currency (EUR included); returns the row count."""
    lines = ["date,currency,rate"]
    for day in range(rates.shape[0]):
        date = clock.date(day).isoformat()
        lines += [f"{date},{currency},{format_rate(float(rates[day, i]))}" for i, currency in enumerate(CURRENCIES)]
    write_atomic(path, ("\n".join(lines) + "\n").encode())
    log.debug("wrote %d FX rows to %s", len(lines) - 1, path)
    return len(lines) - 1
