"""Products and orders: the catalogue and its overnight price changes, orders with their lines,
and each order's lifecycle, decided when it is placed: placed → shipped (1–2 days later) →
delivered (1–3 days after that), or cancelled (about 5%) before shipping.

The lifecycle goes to `_order_schedule`; the day a transition falls on applies it, so a world
extended later moves its open orders exactly as one longer run would.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lakehouse.generate.model import (
    BRANDS,
    CATEGORIES,
    COUNTRY_CURRENCY,
    SIZES,
    Day,
    Stream,
    activity_seconds,
    day_rng,
)
from lakehouse.generate.store import Due, ProductRow, Profile

log = logging.getLogger(__name__)

CANCEL_SHARE = 0.05
CHANCE_CAP = 0.95
QUANTITIES, QUANTITY_P = np.arange(1, 6), np.array([0.5, 0.25, 0.12, 0.08, 0.05])
DISCOUNTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5)
DISCOUNT_P = np.array([0.7, 0.08, 0.08, 0.04, 0.05, 0.02, 0.02, 0.01])
# Price changes are published overnight, before the day's first order.
PRICE_WINDOW_S = 1800
HOUR = 3600


def initial_products(day: Day) -> list[dict[str, Any]]:
    """The catalogue on day 0: categories evenly spread, log-uniform list prices in EUR."""
    rng = day.rng(Stream.PRODUCTS_INIT)
    categories = list(CATEGORIES)
    rows = []
    for product_id in range(1, day.size.products + 1):
        category = categories[(product_id - 1) % len(categories)]
        (low, high), items = CATEGORIES[category]
        brand, item = BRANDS[int(rng.integers(len(BRANDS)))], items[int(rng.integers(len(items)))]
        price = round(float(np.exp(rng.uniform(np.log(low), np.log(high)))), 2)
        rows.append({"product_id": product_id, "name": f"{brand} {item} {SIZES[int(rng.integers(len(SIZES)))]}",
                     "category": category, "list_price_eur": price, "updated_at": day.ts(0)})
    return rows


def popularity(seed: int, count: int) -> np.ndarray:
    """Purchase weights per product (in product id order): a few best sellers, a long tail."""
    ranks = day_rng(seed, 0, Stream.POPULARITY).permutation(count)
    weights = 1.0 / (1.0 + ranks) ** 0.8
    return np.asarray(weights / weights.sum())


def update_prices(day: Day, catalogue: list[ProductRow]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Today's list prices (product id order) after a few overnight changes, and the changed rows."""
    prices = np.array([p.list_price_eur for p in catalogue])
    if day.index == 0 or not catalogue:
        return prices, []
    rng = day.rng(Stream.PRODUCT_UPDATES)
    count = min(len(catalogue), int(rng.poisson(max(0.5, 0.01 * len(catalogue)))))
    rows = []
    for i in np.sort(rng.choice(len(catalogue), size=count, replace=False)):
        prices[i] = max(0.5, round(float(prices[i]) * float(rng.uniform(0.9, 1.12)), 2))
        rows.append({"product_id": catalogue[i].product_id, "list_price_eur": float(prices[i]),
                     "updated_at": day.ts(int(rng.integers(0, PRICE_WINDOW_S)))})
    return prices, rows


@dataclass(frozen=True)
class PlacedOrder:
    """What the clickstream needs to show the session that led to an order."""

    order_id: int
    customer_id: int
    second: int
    product_ids: tuple[int, ...]


@dataclass
class OrderBatch:
    orders: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    placed: list[PlacedOrder] = field(default_factory=list)


@dataclass(frozen=True)
class Shop:
    """Today's catalogue as the orders see it."""

    product_ids: np.ndarray
    prices: np.ndarray
    weights: np.ndarray


def _lines(rng: np.random.Generator, shop: Shop, order_id: int, ts: str, rate: float) -> list[dict[str, Any]]:
    count = min(1 + min(int(rng.poisson(1.5)), 5), len(shop.product_ids))
    picks = rng.choice(len(shop.product_ids), size=count, replace=False, p=shop.weights)
    quantities = rng.choice(QUANTITIES, size=count, p=QUANTITY_P)
    discounts = rng.choice(len(DISCOUNTS), size=count, p=DISCOUNT_P)
    return [
        {"order_id": order_id, "line_no": n, "product_id": int(shop.product_ids[i]), "quantity": int(q),
         "unit_price": max(0.01, round(float(shop.prices[i]) * rate, 2)), "discount": DISCOUNTS[d], "updated_at": ts}
        for n, (i, q, d) in enumerate(zip(picks, quantities, discounts, strict=True), start=1)
    ]


def _lifecycle(rng: np.random.Generator, day: Day, order_id: int, second: int, buyer: Profile) -> list[dict[str, Any]]:
    base = {"order_id": order_id, "customer_id": buyer.customer_id, "device_id": buyer.device_id}
    if rng.random() < CANCEL_SHARE:
        return [{**base, "status": "cancelled", "due_ts": day.ts(second + int(rng.integers(HOUR // 2, 20 * HOUR)))}]
    ship_day = day.index + int(rng.integers(1, 3))
    deliver_day = ship_day + int(rng.integers(1, 4))
    return [
        {**base, "status": "shipped", "due_ts": day.clock.db_ts(ship_day, int(rng.integers(6 * HOUR, 14 * HOUR)))},
        {**base, "status": "delivered",
         "due_ts": day.clock.db_ts(deliver_day, int(rng.integers(8 * HOUR, 20 * HOUR)))},
    ]


def choose_buyers(rng: np.random.Generator, shoppers: list[Profile], expected: float) -> list[Profile]:
    """Each shopper orders today with a chance proportional to their engagement (capped)."""
    if not shoppers:
        return []
    engagement = np.array([p.engagement for p in shoppers])
    expected = min(expected, 0.9 * len(shoppers))
    factor = expected / engagement.sum()
    for _ in range(8):  # raise the others' chances to make up for the capped ones
        factor *= expected / np.minimum(CHANCE_CAP, factor * engagement).sum()
    chance = np.minimum(CHANCE_CAP, factor * engagement)
    return [p for p, yes in zip(shoppers, rng.random(len(shoppers)) < chance, strict=True) if yes]


def place_orders(
    day: Day, shoppers: list[Profile], country_at: dict[int, tuple[str, int, str]], shop: Shop, next_order_id: int
) -> OrderBatch:
    """Today's orders. `country_at[c]` is (country before, second of a move or -1, country after)."""
    rng = day.rng(Stream.ORDERS)
    buyers = choose_buyers(rng, shoppers, day.size.orders_per_day)
    seconds = activity_seconds(rng, len(buyers))
    batch = OrderBatch()
    for k, i in enumerate(sorted(range(len(buyers)), key=lambda j: (seconds[j], buyers[j].customer_id))):
        buyer, second, order_id = buyers[i], int(seconds[i]), next_order_id + k
        before, moved_at, after = country_at[buyer.customer_id]
        currency = COUNTRY_CURRENCY[after if 0 <= moved_at <= second else before]
        ts = day.ts(second)
        batch.orders.append({"order_id": order_id, "customer_id": buyer.customer_id, "status": "placed",
                             "currency": currency, "order_ts": ts, "updated_at": ts})
        lines = _lines(rng, shop, order_id, ts, day.rates[currency])
        batch.items += lines
        batch.schedule += _lifecycle(rng, day, order_id, second, buyer)
        batch.placed.append(PlacedOrder(order_id, buyer.customer_id, second, tuple(r["product_id"] for r in lines)))
    return batch


def due_today(day: Day, stored: list[Due], new_schedule: list[dict[str, Any]]) -> list[Due]:
    """Transitions falling on this day: those stored before plus those of today's own orders."""
    start, end = day.clock.day_bounds(day.index)
    fresh = [Due(**row) for row in new_schedule if start <= row["due_ts"] < end]
    return sorted(stored + fresh, key=lambda d: (d.due_ts, d.order_id, d.status))


def apply_transitions(due: list[Due], excursion_devices: set[str]) -> tuple[list[dict[str, Any]], Counter[int]]:
    """Order status updates, and per customer the deliveries made by a van with an excursion today."""
    updates = [{"order_id": d.order_id, "status": d.status, "updated_at": d.due_ts} for d in due]
    spoiled = Counter(d.customer_id for d in due if d.status == "delivered" and d.device_id in excursion_devices)
    return updates, spoiled
