"""Clickstream: storefront sessions as newline-delimited JSON, one folder per day.

Every order comes with the logged-in session that placed it (page views, add-to-carts, checkout,
shortly before `order_ts`). Other sessions browse and search; some add to the cart and leave
(customers with a high latent `abandon` do so more often); anonymous sessions have no
`customer_id`.

Defects, as a real feed has them: one file per day is delivered twice under another name
(`events-NNNN-redelivery.jsonl`, identical bytes), ~0.1% malformed lines (truncated JSON, a
non-object, no `event_id`, a non-numeric `customer_id`) and a few exact duplicate events.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np

from lakehouse.files import Location
from lakehouse.generate.files import chunk_lines, write_day_files
from lakehouse.generate.model import CATEGORIES, SECONDS_PER_DAY, Day, Stream, activity_seconds
from lakehouse.generate.orders import PlacedOrder, Shop, choose_buyers
from lakehouse.generate.store import Profile

log = logging.getLogger(__name__)

LINES_PER_FILE = 10_000
MALFORMED, DUPLICATED = 0.001, 0.0005
ANONYMOUS_ADD_TO_CART = 0.12
QUERIES = tuple(sorted({c.replace("_", " ") for c in CATEGORIES} | {i.lower() for _, items in CATEGORIES.values()
                                                                     for i in items}))
# (event_type, page, product_id, query)
Step = tuple[str, str, int | None, str | None]


@dataclass(frozen=True)
class Session:
    seconds: tuple[int, ...]
    customer_id: int | None
    device: str
    steps: tuple[Step, ...]


def _search(rng: np.random.Generator) -> Step:
    return ("search", "/search", None, QUERIES[int(rng.integers(len(QUERIES)))])


def _order_session(rng: np.random.Generator, order: PlacedOrder) -> Session:
    steps: list[Step] = [("page_view", "/", None, None)]
    if rng.random() < 0.3:
        steps.append(_search(rng))
    for product in order.product_ids:
        if rng.random() < 0.5:
            steps.append(("page_view", f"/product/{product}", product, None))
        steps.append(("add_to_cart", f"/product/{product}", product, None))
    if rng.random() < 0.5:
        steps.append(("page_view", "/cart", None, None))
    steps.append(("checkout", "/checkout", None, None))
    gaps = rng.integers(5, 90, size=len(steps))
    seconds = order.second - np.cumsum(gaps[::-1])[::-1]
    device = "app" if rng.random() < 0.45 else "web"
    return Session(tuple(int(s) for s in seconds), order.customer_id, device, tuple(steps))


def _browse_session(rng: np.random.Generator, shop: Shop, start: int, customer: int | None, adds: bool) -> Session:
    steps: list[Step] = [("page_view", "/", None, None)]
    viewed: list[int] = []
    for _ in range(int(rng.poisson(2.5))):
        if rng.random() < 0.3:
            steps.append(_search(rng))
        else:
            viewed.append(int(rng.choice(shop.product_ids, p=shop.weights)))
            steps.append(("page_view", f"/product/{viewed[-1]}", viewed[-1], None))
    if adds:
        for product in viewed[:2] or [int(rng.choice(shop.product_ids, p=shop.weights))]:
            steps.append(("add_to_cart", f"/product/{product}", product, None))
        if rng.random() < 0.5:
            steps.append(("page_view", "/cart", None, None))
    seconds = start + np.cumsum(rng.integers(5, 120, size=len(steps)))
    seconds -= max(0, int(seconds[-1]) - (SECONDS_PER_DAY - 1))  # the whole session stays within the day
    device = "app" if rng.random() < 0.45 else "web"
    return Session(tuple(int(s) for s in seconds), customer, device, tuple(steps))


def build_sessions(day: Day, placed: list[PlacedOrder], shoppers: list[Profile], shop: Shop) -> list[Session]:
    """The day's sessions: one per order, logged-in browsing by engagement, anonymous browsing."""
    rng = day.rng(Stream.SESSIONS)
    sessions = [_order_session(rng, order) for order in placed]
    browsers = choose_buyers(rng, shoppers, day.size.logged_in_browse_per_day)
    starts = activity_seconds(rng, len(browsers))
    for profile, start in zip(browsers, starts, strict=True):
        sessions.append(_browse_session(rng, shop, int(start), profile.customer_id, rng.random() < profile.abandon))
    anonymous = int(rng.poisson(day.size.anonymous_browse_per_day))
    for start in activity_seconds(rng, anonymous):
        sessions.append(_browse_session(rng, shop, int(start), None, rng.random() < ANONYMOUS_ADD_TO_CART))
    return sessions


def event_lines(day: Day, sessions: list[Session]) -> list[str]:
    """JSON lines of every event in time order, with unique `event_id`s and per-day `session_id`s."""
    stamp = day.clock.date(day.index).strftime("%Y%m%d")
    ordered = sorted(range(len(sessions)), key=lambda i: (sessions[i].seconds[0], i))
    events = [
        (second, k, step_no, sessions[i], step)
        for k, i in enumerate(ordered)
        for step_no, (second, step) in enumerate(zip(sessions[i].seconds, sessions[i].steps, strict=True))
    ]
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    times = day.clock.iso_times(day.index, np.array([e[0] for e in events], dtype=np.int64))
    lines = []
    for n, ((_, k, _, session, (kind, page, product, query)), ts) in enumerate(zip(events, times, strict=True)):
        record = {"event_id": f"e-{stamp}-{n:07d}", "session_id": f"s-{stamp}-{k:06d}",
                  "customer_id": session.customer_id, "event_type": kind, "ts": ts, "page": page,
                  "product_id": product, "query": query, "device": session.device}
        lines.append(json.dumps(record, separators=(",", ":")))
    return lines


def _corrupt(line: str, kind: int) -> str:
    record = json.loads(line)
    if kind == 0:
        return line[: len(line) // 2]
    if kind == 1:
        return json.dumps([record["event_type"], record["ts"]])
    if kind == 2:
        record.pop("event_id")
    else:
        record["customer_id"] = f"user-{record['customer_id']}" if record["customer_id"] else "guest"
    return json.dumps(record, separators=(",", ":"))


def add_defects(rng: np.random.Generator, lines: list[str], first_kind: int = 0) -> list[str]:
    """Corrupt ~0.1% of the lines (at least one, the kinds taking turns from `first_kind`), and
    repeat a few events verbatim a little later in the feed."""
    if not lines:
        return lines
    out = list(lines)
    bad = max(1, int(rng.binomial(len(out), MALFORMED)))
    for n, index in enumerate(rng.choice(len(out), size=bad, replace=False)):
        out[index] = _corrupt(out[index], (first_kind + n) % 4)
    repeats = np.sort(rng.choice(len(out), size=max(1, int(rng.binomial(len(out), DUPLICATED))), replace=False))
    keyed = [(float(i), line) for i, line in enumerate(out)]
    keyed += [(i + float(rng.integers(1, 40)) + 0.5, out[i]) for i in repeats]
    keyed.sort(key=lambda pair: pair[0])
    return [line for _, line in keyed]


def write_day(day: Day, folder: Location, sessions: list[Session]) -> int:
    """Write the day's `events-NNNN.jsonl` files plus one re-delivered copy; returns the lines written."""
    rng = day.rng(Stream.CLICK_DEFECTS)
    lines = add_defects(rng, event_lines(day, sessions), first_kind=day.index)
    contents = chunk_lines(lines, LINES_PER_FILE)
    redelivered = int(rng.integers(len(contents)))
    write_day_files(folder, "events", contents, redelivered=redelivered)
    return len(lines) + contents[redelivered].count(b"\n")
