"""One simulated day: read the state the previous days left, decide everything the day brings,
write its landing files, then commit its database changes in one transaction.

Files come first and are rewritten identically if a crash forces the day to run again; the
database transaction also records the day as done, so a day is never applied twice.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
from sqlalchemy.engine import Engine

from lakehouse.files import Location
from lakehouse.generate import clickstream, store, telemetry
from lakehouse.generate.customers import change_profiles, choose_churners, choose_erasures, new_customers
from lakehouse.generate.model import Day
from lakehouse.generate.orders import (
    Shop,
    apply_transitions,
    due_today,
    initial_products,
    place_orders,
    popularity,
    update_prices,
)
from lakehouse.generate.store import DayChanges, ProductRow, Profile, WorldState

log = logging.getLogger(__name__)


def _shop(day: Day, state: WorldState, changes: DayChanges) -> Shop:
    catalogue = state.products
    if not catalogue:
        rows = initial_products(day)
        changes.insert("products", rows)
        catalogue = [ProductRow(r["product_id"], r["name"], r["category"], r["list_price_eur"]) for r in rows]
    prices, updated = update_prices(day, catalogue)
    changes.update(store.products, "product_id", updated)
    ids = np.array([p.product_id for p in catalogue])
    return Shop(ids, prices, popularity(day.seed, len(catalogue)))


def _profile(row: dict[str, object]) -> Profile:
    return Profile(**{k: row[k] for k in Profile.__dataclass_fields__})  # type: ignore[arg-type]


def _people(day: Day, state: WorldState, changes: DayChanges) -> tuple[list[Profile], dict[int, tuple[str, int, str]]]:
    """Arrivals, erasures, churn and profile changes; returns today's shoppers and their countries."""
    existing = [p for p in state.profiles if p.status != "erased" and p.created_day < day.index]
    erased = choose_erasures(day, [p.customer_id for p in existing])
    gone = {customer for customer, _ in erased}
    active = [p for p in existing if p.status == "active" and p.customer_id not in gone]
    churned = set(choose_churners(day, active))
    staying = [p.customer_id for p in existing if p.customer_id not in gone]
    edits = change_profiles(day, state.customers, staying)
    arrivals, profiles = new_customers(day, state.next_customer_id)

    changes.insert("customers", arrivals)
    changes.insert("_customer_state", profiles)
    changes.update(store.customers, "customer_id", edits.rows)
    changes.insert("erasure_requests", [{"customer_id": c, "requested_at": day.ts(s)} for c, s in erased])
    changes.deleted_customers = sorted(gone)
    status = [{"customer_id": c, "status": "erased", "status_day": day.index} for c, _ in erased]
    status += [{"customer_id": c, "status": "churned", "status_day": day.index} for c in sorted(churned)]
    changes.update(store.customer_state, "customer_id", sorted(status, key=lambda r: r["customer_id"]))

    shoppers = [p for p in active if p.customer_id not in churned]
    countries = {c.customer_id: c.country for c in state.customers.values()}
    if day.index == 0:  # the opening customer base shops from the first day
        shoppers += [_profile(p) for p in profiles]
        countries.update({r["customer_id"]: r["country"] for r in arrivals})
    country_at = {p.customer_id: (countries[p.customer_id], -1, countries[p.customer_id]) for p in shoppers}
    for customer, (second, country) in edits.moves.items():
        if customer in country_at:
            country_at[customer] = (country_at[customer][0], second, country)
    return shoppers, country_at


def _orders(day: Day, state: WorldState, shoppers: list[Profile], country_at: dict[int, tuple[str, int, str]],
            shop: Shop, changes: DayChanges) -> list[clickstream.Session]:
    batch = place_orders(day, shoppers, country_at, shop, state.next_order_id)
    changes.insert("orders", batch.orders)
    changes.insert("order_items", batch.items)
    changes.insert("_order_schedule", batch.schedule)
    trips = telemetry.excursions(day.seed, day.index, day.devices)
    spoiling = {day.devices[t.device] for t in trips}
    updates, spoiled = apply_transitions(due_today(day, state.due, batch.schedule), spoiling)
    changes.update(store.orders, "order_id", updates)
    known = {p.customer_id: p.bad_deliveries for p in state.profiles}
    changes.update(store.customer_state, "customer_id",
                   [{"customer_id": c, "bad_deliveries": known[c] + n} for c, n in sorted(spoiled.items())])
    return clickstream.build_sessions(day, batch.placed, shoppers, shop)


# What the summary calls the rows a day inserts and updates in the contract tables.
INSERTED = {"customers": "customers", "erasure_requests": "erasures", "products": "products", "orders": "orders",
            "order_items": "order_items"}
UPDATED = {"customers": "customer_updates", "products": "price_changes", "orders": "status_changes"}


def _counts(changes: DayChanges) -> Counter[str]:
    counts: Counter[str] = Counter()
    for table, rows in changes.inserts.items():
        if table in INSERTED:
            counts[INSERTED[table]] += len(rows)
    for change in changes.updates:
        if change.table.name in UPDATED:
            counts[UPDATED[change.table.name]] += len(change.rows)
    return counts


def simulate_day(engine: Engine, day: Day, landing: Location, late_telemetry: list[str],
                 meta: dict[str, str]) -> tuple[Counter[str], list[str]]:
    """Generate and write one day; returns its counts and its late telemetry lines (for the next day)."""
    with engine.connect() as conn:
        state = store.load_state(conn, day.clock, day.index)
    changes = DayChanges()
    shop = _shop(day, state, changes)
    shoppers, country_at = _people(day, state, changes)
    sessions = _orders(day, state, shoppers, country_at, shop, changes)
    folder = f"date={day.clock.date(day.index).isoformat()}"
    counts = _counts(changes)
    counts["events"] = clickstream.write_day(day, landing / "clickstream" / folder, sessions)
    lines, late = telemetry.day_lines(day.seed, day.index, day.clock, day.devices)
    counts["telemetry"] = telemetry.write_day(landing / "telemetry" / folder, lines, late_telemetry)
    with engine.begin() as conn:
        store.apply_changes(conn, changes)
        store.write_meta(conn, {**meta, "days": str(day.index + 1)})
    log.debug("day %s: %s", day.clock.date(day.index), dict(counts))
    return counts, late
