"""The app database as the generator sees it: portable SQLAlchemy Core tables, the state a day
starts from, and the day's changes written in one transaction.

Timestamps are `YYYY-MM-DD HH:MM:SS` text in every dialect. Besides the contract tables the
generator keeps its own hidden tables (names start with `_`, never extracted by the pipeline):
`_customer_state` (each customer's latent traits and whether they churned or were erased),
`_order_schedule` (each order's pre-decided status transitions) and `_generator` (seed, scale,
start date, days done). Because every day is computed from what the database holds, extending a
world reproduces exactly what one longer run would have written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    bindparam,
    delete,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from lakehouse.generate.model import Clock

log = logging.getLogger(__name__)

metadata = MetaData()


def _id(name: str) -> Column[int]:
    return Column(name, Integer, primary_key=True, autoincrement=False)


customers = Table(
    "customers", metadata, _id("customer_id"), Column("email", Text), Column("name", Text),
    Column("country", Text), Column("address", Text), Column("created_at", Text), Column("updated_at", Text),
    Index("ix_customers_updated_at", "updated_at"),
)
products = Table(
    "products", metadata, _id("product_id"), Column("name", Text), Column("category", Text),
    Column("list_price_eur", Float), Column("updated_at", Text), Index("ix_products_updated_at", "updated_at"),
)
orders = Table(
    "orders", metadata, _id("order_id"), Column("customer_id", Integer), Column("status", Text),
    Column("currency", Text), Column("order_ts", Text), Column("updated_at", Text),
    Index("ix_orders_updated_at", "updated_at"),
)
order_items = Table(
    "order_items", metadata, Column("order_id", Integer), Column("line_no", Integer), Column("product_id", Integer),
    Column("quantity", Integer), Column("unit_price", Float), Column("discount", Float), Column("updated_at", Text),
    PrimaryKeyConstraint("order_id", "line_no"), Index("ix_order_items_updated_at", "updated_at"),
)
erasure_requests = Table(
    "erasure_requests", metadata, _id("customer_id"), Column("requested_at", Text),
    Index("ix_erasure_requests_requested_at", "requested_at"),
)
customer_state = Table(
    "_customer_state", metadata, _id("customer_id"), Column("engagement", Float), Column("abandon", Float),
    Column("device_id", Text), Column("created_day", Integer), Column("status", Text), Column("status_day", Integer),
    Column("bad_deliveries", Integer),
)
order_schedule = Table(
    "_order_schedule", metadata, Column("order_id", Integer), Column("status", Text), Column("due_ts", Text),
    Column("customer_id", Integer), Column("device_id", Text),
    PrimaryKeyConstraint("order_id", "status"), Index("ix_order_schedule_due_ts", "due_ts"),
)
generator_meta = Table("_generator", metadata, Column("key", Text, primary_key=True), Column("value", Text))
CONTRACT_TABLES = ("customers", "products", "orders", "order_items", "erasure_requests")


@dataclass(frozen=True)
class CustomerRow:
    customer_id: int
    email: str
    name: str
    country: str
    address: str
    created_at: str


@dataclass(frozen=True)
class Profile:
    """A customer's latent traits: `engagement` drives orders and sessions, `abandon` cart abandonment."""

    customer_id: int
    engagement: float
    abandon: float
    device_id: str
    created_day: int
    status: str  # active | churned | erased
    bad_deliveries: int


@dataclass(frozen=True)
class ProductRow:
    product_id: int
    name: str
    category: str
    list_price_eur: float


@dataclass(frozen=True)
class Due:
    """One pre-decided status transition of an order."""

    order_id: int
    status: str
    due_ts: str
    customer_id: int
    device_id: str


@dataclass(frozen=True)
class WorldState:
    """What a day starts from, all in id order."""

    customers: dict[int, CustomerRow]
    profiles: list[Profile]
    products: list[ProductRow]
    next_order_id: int
    due: list[Due]

    @property
    def next_customer_id(self) -> int:
        return self.profiles[-1].customer_id + 1 if self.profiles else 1


@dataclass(frozen=True)
class Update:
    """Rows that set `columns` of the row with this `key` value."""

    table: Table
    key: str
    rows: list[dict[str, Any]]


@dataclass
class DayChanges:
    inserts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    updates: list[Update] = field(default_factory=list)
    deleted_customers: list[int] = field(default_factory=list)

    def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        self.inserts.setdefault(table, []).extend(rows)

    def update(self, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.updates.append(Update(table, key, rows))


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)


def has_foreign_rows(engine: Engine) -> bool:
    """Whether contract tables hold rows although the generator never recorded a day."""
    existing = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return any(
            conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one() > 0
            for name in CONTRACT_TABLES
            if name in existing
        )


def read_meta(engine: Engine) -> dict[str, str]:
    if "_generator" not in inspect(engine).get_table_names():
        return {}
    with engine.connect() as conn:
        return {row.key: row.value for row in conn.execute(select(generator_meta))}


def write_meta(conn: Connection, meta: dict[str, str]) -> None:
    conn.execute(delete(generator_meta))
    conn.execute(generator_meta.insert(), [{"key": k, "value": v} for k, v in sorted(meta.items())])


def load_state(conn: Connection, clock: Clock, day: int) -> WorldState:
    """The state day `day` starts from."""
    rows = conn.execute(select(customers).order_by(customers.c.customer_id))
    people = {r.customer_id: CustomerRow(r.customer_id, r.email, r.name, r.country, r.address, r.created_at)
              for r in rows}
    profiles = [
        Profile(r.customer_id, r.engagement, r.abandon, r.device_id, r.created_day, r.status, r.bad_deliveries)
        for r in conn.execute(select(customer_state).order_by(customer_state.c.customer_id))
    ]
    catalogue = [
        ProductRow(r.product_id, r.name, r.category, r.list_price_eur)
        for r in conn.execute(select(products).order_by(products.c.product_id))
    ]
    last_order = conn.execute(select(func.max(orders.c.order_id))).scalar_one()
    start, end = clock.day_bounds(day)
    s = order_schedule.c
    due_rows = conn.execute(
        select(order_schedule).where(s.due_ts >= start, s.due_ts < end).order_by(s.due_ts, s.order_id, s.status)
    )
    due = [Due(r.order_id, r.status, r.due_ts, r.customer_id, r.device_id) for r in due_rows]
    return WorldState(people, profiles, catalogue, (last_order or 0) + 1, due)


def _apply_update(conn: Connection, change: Update) -> None:
    columns = sorted(set(change.rows[0]) - {change.key})
    statement = (
        update(change.table)
        .where(change.table.c[change.key] == bindparam("k_" + change.key))
        .values({c: bindparam("v_" + c) for c in columns})
    )
    params = [{"k_" + change.key: r[change.key], **{"v_" + c: r[c] for c in columns}} for r in change.rows]
    conn.execute(statement, params)


def apply_changes(conn: Connection, changes: DayChanges) -> None:
    """Write a day's inserts, then its updates, then its deletions."""
    for name, rows in changes.inserts.items():
        if rows:
            conn.execute(metadata.tables[name].insert(), rows)
    for change in changes.updates:
        _apply_update(conn, change)
    if changes.deleted_customers:
        conn.execute(delete(customers).where(customers.c.customer_id.in_(changes.deleted_customers)))
