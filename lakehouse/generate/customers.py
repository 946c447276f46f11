"""Customers: arrivals, profile changes (email, address, country), churn and erasure requests.

Each customer has latent traits kept in `_customer_state`: `engagement` (how often they order and
browse), `abandon` (how often they leave a filled cart) and the van that delivers to them. Churn
is likelier for low engagement, high abandonment and deliveries by a van that had a cold-chain
excursion that day; a churned customer stops ordering and browsing for good.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lakehouse.generate.model import (
    CITIES,
    COUNTRY_CODES,
    COUNTRY_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    SECONDS_PER_DAY,
    STREETS,
    Day,
    Stream,
)
from lakehouse.generate.store import CustomerRow, Profile

log = logging.getLogger(__name__)

# Daily probabilities per customer.
EMAIL_CHANGE, ADDRESS_CHANGE, COUNTRY_CHANGE = 0.003, 0.004, 0.003
ERASURE_DAY_PROBABILITY = 0.3
# Customers of the opening base exist before the first order of day 0 (orders start at 01:00).
OPENING_WINDOW_S = 1800


def _address(rng: np.random.Generator, country: str) -> str:
    cities = CITIES[country]
    street = STREETS[int(rng.integers(len(STREETS)))]
    return f"{street} {int(rng.integers(1, 240))}, {cities[int(rng.integers(len(cities)))]}"


def _email(name: str, customer_id: int, domain: str, variant: str = "") -> str:
    first, last = name.split(" ", 1)
    local = f"{first}.{last.replace(' ', '')}".lower()
    return f"{local}{variant}{customer_id}@{domain}"


def new_customers(day: Day, next_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Today's new customers: (customers rows, `_customer_state` rows), ids in order of arrival."""
    rng = day.rng(Stream.NEW_CUSTOMERS)
    opening = day.index == 0
    count = day.size.initial_customers if opening else int(rng.poisson(day.size.new_customers_per_day))
    seconds = np.sort(rng.integers(0, OPENING_WINDOW_S if opening else SECONDS_PER_DAY, size=count))
    countries = rng.choice(len(COUNTRY_CODES), size=count, p=COUNTRY_WEIGHTS)
    firsts, lasts = rng.integers(len(FIRST_NAMES), size=count), rng.integers(len(LAST_NAMES), size=count)
    domains = rng.integers(len(EMAIL_DOMAINS), size=count)
    engagement, abandon = rng.lognormal(0.0, 0.8, size=count), rng.beta(2.0, 5.0, size=count)
    vans = rng.integers(len(day.vans), size=count)
    rows, profiles = [], []
    for i in range(count):
        cid, country, ts = next_id + i, COUNTRY_CODES[countries[i]], day.ts(int(seconds[i]))
        name = f"{FIRST_NAMES[firsts[i]]} {LAST_NAMES[lasts[i]]}"
        rows.append({"customer_id": cid, "email": _email(name, cid, EMAIL_DOMAINS[domains[i]]), "name": name,
                     "country": country, "address": _address(rng, country), "created_at": ts, "updated_at": ts})
        profiles.append({"customer_id": cid, "engagement": float(engagement[i]), "abandon": float(abandon[i]),
                         "device_id": day.vans[vans[i]], "created_day": day.index, "status": "active",
                         "status_day": None, "bad_deliveries": 0})
    return rows, profiles


@dataclass
class ProfileChanges:
    """Customer row updates, and who moved country at which second of the day (orders follow)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    moves: dict[int, tuple[int, str]] = field(default_factory=dict)


def change_profiles(day: Day, customers: dict[int, CustomerRow], candidates: list[int]) -> ProfileChanges:
    """A few customers change email, address or country (with a new address) at some time today."""
    rng = day.rng(Stream.PROFILE_CHANGES)
    draws = rng.random((len(candidates), 3))
    changed = np.flatnonzero((draws < [EMAIL_CHANGE, ADDRESS_CHANGE, COUNTRY_CHANGE]).any(axis=1))
    out = ProfileChanges()
    for i in changed:
        row = customers[candidates[i]]
        second = int(rng.integers(OPENING_WINDOW_S, SECONDS_PER_DAY))
        values: dict[str, Any] = {"customer_id": row.customer_id, "email": row.email, "country": row.country,
                                  "address": row.address, "updated_at": day.ts(second)}
        if draws[i, 0] < EMAIL_CHANGE:
            domain = EMAIL_DOMAINS[int(rng.integers(len(EMAIL_DOMAINS)))]
            values["email"] = _email(row.name, row.customer_id, domain, f".{day.index}.")
        if draws[i, 2] < COUNTRY_CHANGE:
            others = [c for c in COUNTRY_CODES if c != row.country]
            values["country"] = others[int(rng.integers(len(others)))]
            values["address"] = _address(rng, values["country"])
            out.moves[row.customer_id] = (second, values["country"])
        elif draws[i, 1] < ADDRESS_CHANGE:
            values["address"] = _address(rng, row.country)
        out.rows.append(values)
    return out


def choose_erasures(day: Day, candidates: list[int]) -> list[tuple[int, int]]:
    """Customers asking to be erased today, with the second of their request.

    Erasures come on a few random days, and always on day 1 so that even a tiny world has one.
    """
    rng = day.rng(Stream.ERASURES)
    happens = rng.random() < ERASURE_DAY_PROBABILITY or day.index == 1
    if day.index == 0 or not candidates or not happens:
        return []
    count = min(len(candidates), 1 + int(rng.poisson(2 * day.size.scale)))
    chosen = np.sort(rng.choice(np.array(candidates), size=count, replace=False))
    seconds = rng.integers(0, SECONDS_PER_DAY, size=count)
    return [(int(c), int(s)) for c, s in zip(chosen, seconds, strict=True)]


def churn_hazard(engagement: np.ndarray, abandon: np.ndarray, bad_deliveries: np.ndarray) -> np.ndarray:
    """Daily probability of leaving for good."""
    return 0.001 + 0.012 * np.exp(-1.5 * engagement) + 0.008 * abandon + 0.004 * np.minimum(bad_deliveries, 5)


def choose_churners(day: Day, profiles: list[Profile]) -> list[int]:
    """Active customers (created before today) who stop ordering and browsing from today on."""
    if day.index == 0 or not profiles:
        return []
    rng = day.rng(Stream.CHURN)
    hazard = churn_hazard(
        np.array([p.engagement for p in profiles]),
        np.array([p.abandon for p in profiles]),
        np.array([p.bad_deliveries for p in profiles]),
    )
    leaving = rng.random(len(profiles)) < hazard
    return [p.customer_id for p, gone in zip(profiles, leaving, strict=True) if gone]
