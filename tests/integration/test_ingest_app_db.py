"""The app database's extract loses nothing: ties at the watermark, a bad row in one table, a
crash between a commit and its watermark followed by new rows. On SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lakehouse.config import Config
from lakehouse.engine import get_session
from lakehouse.generate import generate_world
from lakehouse.ingest import ingest_app_db
from lakehouse.quality.checks import QualityGateFailed
from lakehouse.state import IngestState
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def app_world(request: pytest.FixtureRequest, tmp_path: Path, make_config) -> tuple[Lake, Config]:
    """A three-day world in the app database of each kind, not yet extracted."""
    overrides = {}
    if request.param == "postgresql":
        overrides["sources.app_db_url"] = request.getfixturevalue("postgres_url")
    config = make_config(tmp_path, **overrides)
    generate_world(config.sources_dir, config.app_db_url, scale=0.01, seed=7, days=3,
                   start_date=config.generator.start_date, progress=False)
    return Lake(get_session(config), config.lake_dir), config


def _execute(config: Config, sql: str, **params: object) -> list[tuple]:
    engine = create_engine(config.app_db_url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _bronze(lake: Lake, table: str, *columns: str) -> list[tuple]:
    return sorted(tuple(r) for r in lake.read(f"bronze.{table}").select(*columns).collect())


def test_a_change_in_the_watermarks_own_second_is_extracted(app_world: tuple[Lake, Config]) -> None:
    lake, config = app_world
    ingest_app_db(lake, config, AT)
    mark = IngestState(lake).watermark("app_db.customers")
    assert mark is not None
    # Another customer changes within the very second of the newest change already extracted.
    (customer,) = _execute(config, "SELECT min(customer_id) FROM customers WHERE updated_at < :m", m=mark)[0]
    _execute(config, "UPDATE customers SET email = 'tie@example.com', updated_at = :m WHERE customer_id = :c",
             m=mark, c=customer)
    before = lake.read("bronze.customers").count()

    result = ingest_app_db(lake, config, AT)

    assert result.records == 1
    assert lake.read("bronze.customers").count() == before + 1
    emails = [r[0] for r in lake.read("bronze.customers").where(f"customer_id = {customer}").select("email").collect()]
    assert "tie@example.com" in emails
    # and what bronze already holds at the watermark is not extracted a second time
    again = ingest_app_db(lake, config, AT)
    assert (again.records, again.batches) == (0, 0)
    assert lake.read("bronze.customers").count() == before + 1


def test_a_bad_row_holds_back_the_linked_tables_but_not_an_erasure(app_world: tuple[Lake, Config]) -> None:
    lake, config = app_world
    ingest_app_db(lake, config, AT)
    versions = {t: lake.version(f"bronze.{t}") for t in ("customers", "products", "orders", "order_items")}
    marks = {t: IngestState(lake).watermark(f"app_db.{t}") for t in versions}
    customers_before = lake.read("bronze.customers").count()
    # New rows everywhere, one of them with a price that is not a number, and an erasure request.
    day = "2026-02-01 09:00:00"
    (order_id,) = _execute(config, "SELECT max(order_id) + 1 FROM orders")[0]
    (customer,) = _execute(config, "SELECT min(customer_id) FROM customers")[0]
    (product,) = _execute(config, "SELECT min(product_id) FROM products")[0]
    _execute(config, "INSERT INTO orders (order_id, customer_id, status, currency, order_ts, updated_at) "
                     "VALUES (:o, :c, 'placed', 'EUR', :d, :d)", o=order_id, c=customer, d=day)
    bad_price = "'twelve'" if config.app_db_url.startswith("sqlite") else None
    if bad_price is None:  # PostgreSQL keeps its types: a column changed to text is what a bad row looks like
        _execute(config, "ALTER TABLE order_items ALTER COLUMN unit_price TYPE text")
        bad_price = "'twelve'"
    _execute(config, "INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price, discount, "
                     f"updated_at) VALUES (:o, 1, :p, 1, {bad_price}, 0, :d)", o=order_id, p=product, d=day)
    _execute(config, "INSERT INTO erasure_requests (customer_id, requested_at) VALUES (:c, :d)", c=customer, d=day)

    with pytest.raises(QualityGateFailed, match="bronze.order_items") as failure:
        ingest_app_db(lake, config, AT)

    assert "bronze.orders" in str(failure.value)  # named as held back with it
    for table, version in versions.items():
        if table != "customers":  # the erasure's scrub updates bronze.customers: checked below
            assert lake.version(f"bronze.{table}") == version, table
        assert IngestState(lake).watermark(f"app_db.{table}") == marks[table], table
    assert lake.read("bronze.customers").count() == customers_before
    assert (customer, day) in _bronze(lake, "erasure_requests", "customer_id", "requested_at")
    # the erasure reached bronze.customers although the orders' extract failed
    scrubbed = lake.read("bronze.customers").where(f"customer_id = {customer}").select("email").collect()
    assert scrubbed and all(r[0] is None for r in scrubbed)

    if config.app_db_url.startswith("sqlite"):
        _execute(config, "UPDATE order_items SET unit_price = 12.0 WHERE order_id = :o", o=order_id)
    else:
        _execute(config, "UPDATE order_items SET unit_price = '12.0' WHERE order_id = :o", o=order_id)
        _execute(config, "ALTER TABLE order_items ALTER COLUMN unit_price TYPE double precision "
                         "USING unit_price::double precision")
    ingest_app_db(lake, config, AT)
    assert (order_id, day) in _bronze(lake, "orders", "order_id", "updated_at")
    assert (order_id, 1, 12.0) in _bronze(lake, "order_items", "order_id", "line_no", "unit_price")


def test_a_crash_before_the_watermark_then_new_rows_leaves_no_duplicate(
    app_world: tuple[Lake, Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, config = app_world
    source = {t: _execute(config, f"SELECT count(*) FROM {t}")[0][0] for t in ("orders", "order_items")}

    record = IngestState.record_watermark

    def crash(self: IngestState, key: str, *args: object, **kwargs: object) -> None:
        if key == "app_db.orders":
            raise RuntimeError("killed between the data commit and the watermark")
        record(self, key, *args, **kwargs)

    monkeypatch.setattr(IngestState, "record_watermark", crash)
    with pytest.raises(RuntimeError, match="killed"):
        ingest_app_db(lake, config, AT)
    monkeypatch.undo()
    # New rows arrive before the rerun: the rerun's extract window (and batch id) differ.
    day = "2026-02-02 08:00:00"
    (order_id,) = _execute(config, "SELECT max(order_id) + 1 FROM orders")[0]
    (customer,) = _execute(config, "SELECT min(customer_id) FROM customers")[0]
    _execute(config, "INSERT INTO orders (order_id, customer_id, status, currency, order_ts, updated_at) "
                     "VALUES (:o, :c, 'placed', 'EUR', :d, :d)", o=order_id, c=customer, d=day)

    ingest_app_db(lake, config, AT)

    for table, count in source.items():
        added = 1 if table == "orders" else 0
        rows = lake.read(f"bronze.{table}")
        assert rows.count() == count + added, table
    keys = _bronze(lake, "orders", "order_id", "updated_at")
    assert len(keys) == len(set(keys))


@pytest.fixture
def sqlite_world(tmp_path: Path, make_config) -> tuple[Lake, Config]:
    config = make_config(tmp_path)
    generate_world(config.sources_dir, config.app_db_url, scale=0.01, seed=7, days=3,
                   start_date=config.generator.start_date, progress=False)
    return Lake(get_session(config), config.lake_dir), config


def test_a_row_stamped_in_the_future_does_not_hide_later_changes(sqlite_world: tuple[Lake, Config]) -> None:
    lake, config = sqlite_world
    at = dt.datetime.now(dt.UTC)
    ingest_app_db(lake, config, at)
    (first, second) = [r[0] for r in _execute(config, "SELECT customer_id FROM customers ORDER BY customer_id LIMIT 2")]
    _execute(config, "UPDATE customers SET name = 'From The Future', updated_at = '2099-01-01 00:00:00' "
                     "WHERE customer_id = :c", c=first)
    _execute(config, "INSERT INTO erasure_requests (customer_id, requested_at) VALUES (:c, '2099-01-01 00:00:00')",
             c=first)
    result = ingest_app_db(lake, config, at)
    future = [c for c in result.checks if c.rule == "change_stamp_in_future" and not c.passed]
    assert {c.table for c in future} == {"bronze.customers", "bronze.erasure_requests"}
    assert IngestState(lake).watermark("app_db.customers") < "2099"  # the watermark stays at the run's time

    now = at.strftime("%Y-%m-%d %H:%M:%S")
    _execute(config, "UPDATE customers SET name = 'Changed Now', updated_at = :t WHERE customer_id = :c",
             t=now, c=second)
    _execute(config, "INSERT INTO erasure_requests (customer_id, requested_at) VALUES (:c, :t)", c=second, t=now)
    ingest_app_db(lake, config, at + dt.timedelta(seconds=1))

    names = _bronze(lake, "customers", "customer_id", "name")
    assert (second, "Changed Now") in names or (second, None) in names  # extracted (and scrubbed: erased)
    assert (second, now) in _bronze(lake, "erasure_requests", "customer_id", "requested_at")
    # the future rows were extracted once, not again at every run
    assert _bronze(lake, "erasure_requests", "customer_id", "requested_at").count((first, "2099-01-01 00:00:00")) == 1


def test_a_late_commit_and_a_change_back_in_the_same_second_are_extracted(sqlite_world: tuple[Lake, Config]) -> None:
    lake, config = sqlite_world
    ingest_app_db(lake, config, AT)
    mark = IngestState(lake).watermark("app_db.orders")
    assert mark is not None
    (order_id, status) = _execute(config, "SELECT order_id, status FROM orders WHERE updated_at < :m "
                                          "ORDER BY order_id LIMIT 1", m=mark)[0]
    late = (dt.datetime.strptime(mark, "%Y-%m-%d %H:%M:%S") - dt.timedelta(seconds=120)).strftime("%Y-%m-%d %H:%M:%S")
    # committed late: stamped two minutes before the newest change already extracted
    _execute(config, "UPDATE orders SET status = 'cancelled', updated_at = :t WHERE order_id = :o", t=late, o=order_id)
    ingest_app_db(lake, config, AT + dt.timedelta(minutes=1))
    assert (order_id, "cancelled", late) in _bronze(lake, "orders", "order_id", "status", "updated_at")
    # then back to what it was, within the same second: a change, although bronze held that value once
    _execute(config, "UPDATE orders SET status = :s WHERE order_id = :o", s=status, o=order_id)
    ingest_app_db(lake, config, AT + dt.timedelta(minutes=2))
    versions = [r for r in _bronze(lake, "orders", "order_id", "status", "updated_at") if r[0] == order_id]
    assert versions.count((order_id, status, late)) == 1
    assert ingest_app_db(lake, config, AT + dt.timedelta(minutes=3)).batches == 0  # nothing more without a change


def test_rows_without_a_change_stamp_are_reported(sqlite_world: tuple[Lake, Config]) -> None:
    lake, config = sqlite_world
    (order_id,) = _execute(config, "SELECT max(order_id) + 1 FROM orders")[0]
    _execute(config, "INSERT INTO orders (order_id, customer_id, status, currency, order_ts, updated_at) "
                     "VALUES (:o, 1, 'placed', 'EUR', '2026-01-02 10:00:00', NULL)", o=order_id)
    result = ingest_app_db(lake, config, AT)
    (missing,) = [c for c in result.checks if c.rule == "change_stamp_missing" and c.table == "bronze.orders"]
    assert not missing.passed and missing.failing_count == 1
