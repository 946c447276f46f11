"""The source generator: deterministic, extendable, roughly linear in scale, and as messy as promised.

Expected values are computed from the written sources with sqlite3, json and csv, never from the
generator's own helpers.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from lakehouse.generate import GenerationSummary, GeneratorMismatch, generate_world

START = dt.date(2026, 1, 1)
SCALE, SEED, DAYS = 0.02, 7, 6
DATES = [(START + dt.timedelta(days=d)).isoformat() for d in range(DAYS)]
CURRENCY = {"DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "IT": "EUR", "GB": "GBP", "US": "USD",
            "SE": "SEK", "PL": "PLN", "CH": "CHF", "DK": "DKK"}
DB_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _generate(root: Path, days: int = DAYS, seed: int = SEED, scale: float = SCALE,
              start: dt.date = START) -> GenerationSummary:
    sources = root / "sources"
    return generate_world(sources, f"sqlite:///{sources / 'app.db'}", scale=scale, seed=seed, days=days,
                          start_date=start, progress=False)


def _db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / "sources" / "app.db")


def _dump(root: Path) -> dict[str, list[tuple]]:
    con = _db(root)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def _files(root: Path) -> dict[str, bytes]:
    sources = root / "sources"
    return {str(p.relative_to(sources)): p.read_bytes() for p in sorted(sources.rglob("*"))
            if p.is_file() and p.name != "app.db"}


def _json_lines(root: Path, source: str) -> list[tuple[str, str]]:
    """(folder date, line) for every line of every file of a landing source, redeliveries included."""
    return [(p.parent.name.removeprefix("date="), line)
            for p in sorted((root / "sources" / source).glob("date=*/*.jsonl"))
            for line in p.read_text().splitlines()]


def _parsed(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    roots = {name: tmp_path_factory.mktemp(name) for name in ("one_shot", "again", "extended", "other_seed")}
    _generate(roots["one_shot"])
    _generate(roots["again"])
    first = _generate(roots["extended"], days=4)
    second = _generate(roots["extended"], days=DAYS)
    assert (first.days_added, second.days_added, second.days_total) == (4, 2, DAYS)
    _generate(roots["other_seed"], seed=SEED + 1)
    return roots


@pytest.fixture(scope="module")
def world(worlds: dict[str, Path]) -> Path:
    return worlds["one_shot"]


def test_the_same_seed_gives_the_same_world(worlds: dict[str, Path]) -> None:
    assert _dump(worlds["one_shot"]) == _dump(worlds["again"])
    assert _files(worlds["one_shot"]) == _files(worlds["again"])


def test_another_seed_gives_another_world(worlds: dict[str, Path]) -> None:
    one, other = _dump(worlds["one_shot"]), _dump(worlds["other_seed"])
    assert one["orders"] != other["orders"] and one["customers"] != other["customers"]
    assert _files(worlds["one_shot"])["fx/rates.csv"] != _files(worlds["other_seed"])["fx/rates.csv"]


def test_extending_gives_exactly_the_one_shot_world(worlds: dict[str, Path]) -> None:
    assert _dump(worlds["extended"]) == _dump(worlds["one_shot"])
    assert _files(worlds["extended"]) == _files(worlds["one_shot"])


def test_fewer_or_equal_days_change_nothing(world: Path) -> None:
    before = _files(world), _dump(world)
    for days in (DAYS, 2):
        summary = _generate(world, days=days)
        assert (summary.days_total, summary.days_added, summary.counts) == (DAYS, 0, {})
        assert (summary.first_day.isoformat(), summary.last_day.isoformat()) == (DATES[0], DATES[-1])
    assert (_files(world), _dump(world)) == before


@pytest.mark.parametrize(("change", "named"), [
    ({"seed": SEED + 1}, ("seed=7", "seed=8")),
    ({"scale": 0.05}, ("scale=0.02", "scale=0.05")),
    ({"start": dt.date(2025, 6, 1)}, ("start_date=2026-01-01", "start_date=2025-06-01")),
])
def test_extending_with_other_parameters_is_refused(world: Path, change: dict, named: tuple[str, str]) -> None:
    with pytest.raises(GeneratorMismatch) as raised:
        _generate(world, days=DAYS + 1, **change)
    assert all(value in str(raised.value) for value in named)


def test_the_layout_and_manifest(world: Path) -> None:
    sources = world / "sources"
    for date in DATES:
        assert (sources / "clickstream" / f"date={date}" / "events-0000.jsonl").is_file()
        assert (sources / "telemetry" / f"date={date}" / "readings-0000.jsonl").is_file()
    assert (sources / "targets" / "sales_targets.csv").is_file()
    manifest = json.loads((sources / "_generator.json").read_text())
    assert manifest == {"seed": SEED, "scale": SCALE, "start_date": "2026-01-01", "days": DAYS}
    assert not list(sources.rglob(".*.tmp"))


def test_volumes_grow_linearly_with_scale(tmp_path: Path) -> None:
    small, large = _generate(tmp_path / "small", days=3, scale=0.01), _generate(tmp_path / "large", days=3, scale=0.03)
    for source in ("orders", "order_items", "customers", "events"):
        assert 2.2 < large.counts[source] / small.counts[source] < 3.8, source
    assert 0.75 < large.counts["orders"] / (3333 * 0.03 * 3) < 1.25
    assert small.counts["telemetry"] == pytest.approx(3 * 288 * 3, rel=0.05)  # 3 devices, one reading per 5 min


def test_every_day_one_file_is_redelivered_byte_for_byte(world: Path) -> None:
    for date in DATES:
        folder = world / "sources" / "clickstream" / f"date={date}"
        copies = list(folder.glob("*-redelivery.jsonl"))
        assert len(copies) == 1, date
        original = folder / copies[0].name.replace("-redelivery", "")
        assert copies[0].read_bytes() == original.read_bytes()


def test_clickstream_lines_are_events_with_some_defects(world: Path) -> None:
    lines = [(d, line) for d, line in _json_lines(world, "clickstream")]
    events = [e for _, line in lines if (e := _parsed(line)) is not None]
    malformed = len(lines) - len(events)
    no_id = [e for e in events if "event_id" not in e]
    bad_customer = [e for e in events if isinstance(e.get("customer_id"), str)]
    assert malformed > 0 and no_id and bad_customer
    good = [e for e in events if "event_id" in e and not isinstance(e.get("customer_id"), str)]
    assert {e["event_type"] for e in good} == {"page_view", "add_to_cart", "checkout", "search"}
    assert all(ISO_TS.match(e["ts"]) and e["device"] in ("web", "app") for e in good)
    assert any(e["customer_id"] is None for e in good) and any(isinstance(e["customer_id"], int) for e in good)
    per_file = Counter((d, line) for d, line in lines)
    redelivered = sum(1 for p in (world / "sources" / "clickstream").glob("*/*-redelivery.jsonl")
                      for _ in p.read_text().splitlines())
    assert sum(n - 1 for n in per_file.values()) > redelivered, "exact duplicate events inside files"


def test_each_order_comes_with_its_checkout_session(world: Path) -> None:
    checkouts = {(e["customer_id"], e["ts"][:10]) for _, line in _json_lines(world, "clickstream")
                 if (e := _parsed(line)) and e.get("event_type") == "checkout"}
    orders = _db(world).execute("SELECT customer_id, substr(order_ts, 1, 10) FROM orders").fetchall()
    found = sum(1 for customer, date in orders if (customer, date) in checkouts)
    assert found >= 0.95 * len(orders)


def test_telemetry_has_impossible_repeated_late_and_unordered_readings(world: Path) -> None:
    lines = _json_lines(world, "telemetry")
    readings = [(d, r) for d, line in lines if (r := _parsed(line)) is not None and "seq" in r]
    assert len(readings) < len(lines), "some malformed lines"
    assert any(r["temperature_c"] in (999, -273) or r["battery_pct"] in (150, -5) or r["humidity"] > 100
               for _, r in readings)
    assert any(n > 1 for n in Counter((r["device_id"], r["seq"]) for _, r in readings).values())
    assert any(r["ts"][:10] < folder for folder, r in readings), "late readings land in the next day's folder"
    plausible = [r["temperature_c"] for _, r in readings if -50 < r["temperature_c"] < 50]
    assert min(plausible) > 2 and max(plausible) > 8, "cold chain with at least one excursion"
    stamps = [r["ts"] for d, r in readings if r["ts"][:10] == d]
    assert stamps != sorted(stamps), "lines out of order"


def test_orders_move_through_their_lifecycle(world: Path) -> None:
    con = _db(world)
    statuses = dict(con.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall())
    assert set(statuses) <= {"placed", "shipped", "delivered", "cancelled"}
    assert statuses.get("cancelled", 0) > 0 and statuses.get("delivered", 0) > 0
    rows = con.execute("SELECT order_ts, updated_at FROM orders").fetchall()
    assert all(DB_TS.match(a) and DB_TS.match(b) and a <= b for a, b in rows)
    items = con.execute("SELECT quantity, discount, unit_price FROM order_items").fetchall()
    assert all(1 <= q <= 5 and 0 <= d < 1 and p > 0 for q, d, p in items)


def test_orders_are_in_the_currency_of_the_customers_country(world: Path) -> None:
    rows = _db(world).execute("""
        SELECT c.country, o.currency FROM orders o JOIN customers c USING (customer_id)
        WHERE c.updated_at = c.created_at AND o.order_ts > c.created_at""").fetchall()
    assert rows and all(CURRENCY[country] == currency for country, currency in rows)


def test_erased_customers_are_gone_but_their_orders_stay(world: Path) -> None:
    con = _db(world)
    erased = [r[0] for r in con.execute("SELECT customer_id FROM erasure_requests")]
    assert erased
    marks = ",".join("?" * len(erased))
    assert con.execute(f"SELECT count(*) FROM customers WHERE customer_id IN ({marks})", erased).fetchone() == (0,)
    assert con.execute(f"SELECT count(*) FROM orders WHERE customer_id IN ({marks})", erased).fetchone()[0] > 0


def test_churned_customers_stop_ordering(world: Path) -> None:
    con = _db(world)
    late_orders = con.execute("""
        SELECT count(*) FROM orders o JOIN _customer_state s USING (customer_id)
        WHERE s.status = 'churned' AND julianday(substr(o.order_ts, 1, 10)) - julianday(?) >= s.status_day""",
                              (DATES[0],)).fetchone()[0]
    assert late_orders == 0


def test_fx_rates_cover_every_day_and_currency(world: Path) -> None:
    with open(world / "sources" / "fx" / "rates.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    currencies = set(CURRENCY.values())
    assert {(r["date"], r["currency"]) for r in rows} == {(d, c) for d in DATES for c in currencies}
    assert len(rows) == len(DATES) * len(currencies)
    assert all(float(r["rate"]) == 1 for r in rows if r["currency"] == "EUR")
    assert all(float(r["rate"]) > 0 and len(r["rate"].partition(".")[2]) <= 6 for r in rows)
    used = {r[0] for r in _db(world).execute("SELECT DISTINCT currency FROM orders")}
    assert used <= currencies


def test_targets_csv_has_the_hand_editing_defects(world: Path) -> None:
    text = (world / "sources" / "targets" / "sales_targets.csv").read_text()
    lines = text.splitlines()
    assert lines[0] == "country,month,target_revenue_eur" and "" in lines
    rows = list(csv.DictReader(line for line in lines if line.strip()))
    assert {r["month"].strip() for r in rows} == {"2026-01", "2026-02"}

    def number(value: str) -> bool:
        try:
            float(value)
        except ValueError:
            return False
        return True

    assert any(not number(r["target_revenue_eur"]) for r in rows)
    assert any(r["country"].strip().upper() not in CURRENCY for r in rows)
    assert any(r["country"] != r["country"].strip() for r in rows)


def test_postgres_gets_the_same_rows_as_sqlite(world: Path, tmp_path: Path, postgres_url: str) -> None:
    from sqlalchemy import create_engine, text

    url = postgres_url
    engine = create_engine(url)
    generate_world(tmp_path / "sources", url, scale=SCALE, seed=SEED, days=DAYS, start_date=START, progress=False)
    expected = _dump(world)
    with engine.connect() as con:
        for table in ("customers", "products", "orders", "order_items", "erasure_requests"):
            got = sorted((tuple(r) for r in con.execute(text(f"SELECT * FROM {table}"))), key=repr)
            assert got == expected[table], table
    assert _files(tmp_path)["clickstream/date=2026-01-03/events-0000.jsonl"] == \
        _files(world)["clickstream/date=2026-01-03/events-0000.jsonl"]
