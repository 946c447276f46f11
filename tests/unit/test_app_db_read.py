"""The app database's rows read as Arrow columns (ADBC) equal the rows read through SQLAlchemy,
and whatever ADBC cannot read exactly goes through SQLAlchemy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from lakehouse.sources import app_db

ITEMS = app_db.APP_TABLES["order_items"]
CUSTOMERS = app_db.APP_TABLES["customers"]
BIG = 2**62 + 1  # a float64 cannot hold it


def _database(path: Path, items: list[tuple], customers: list[tuple]) -> app_db.Engine:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE order_items (order_id INTEGER, line_no INTEGER, product_id INTEGER, "
                           "quantity INTEGER, unit_price REAL, discount REAL, updated_at TEXT)")
        connection.execute("CREATE TABLE customers (customer_id INTEGER, email TEXT, name TEXT, country TEXT, "
                           "address TEXT, created_at TEXT, updated_at TEXT)")
        connection.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, ?)", items)
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", customers)
    return app_db.connect(f"sqlite:///{path}")


def _through_sqlalchemy(engine: app_db.Engine, table: app_db.AppTable, since: str | None) -> pd.DataFrame:
    query = f"SELECT {', '.join(table.columns)} FROM {table.name}"
    if since is not None:
        query += f" WHERE {table.change_column} >= :since"
    with engine.connect() as connection:
        frame = pd.read_sql_query(text(query + f" ORDER BY {table.change_column}"), connection,
                                  params={"since": since} if since else {})
    return app_db.normalise(frame, table)


ITEM_ROWS = [
    (1, 1, 7, 2, 12.5, 0.0, "2026-01-01 10:00:00"),
    (1, 2, None, 1, 0.1, 0.15, "2026-01-01 10:00:00"),  # a null among integers
    (BIG, 1, 8, None, None, None, "2026-01-02 00:00:01"),
    (2, 1, 9, 3, 19.99, 0.05, "2026-01-03 23:59:59"),
]
CUSTOMER_ROWS = [
    (1, "a@example.com", "Ann", "DE", None, "2026-01-01 09:00:00", "2026-01-01 09:00:00"),
    (2, None, "Bö \u2028 b", "FR", "1 rue X", "2026-01-01 09:00:00", "2026-01-02 09:00:00"),
]


@pytest.mark.parametrize("since", [None, "2026-01-02 00:00:01", "2027-01-01 00:00:00"])
def test_arrow_columns_equal_the_rows_through_sqlalchemy(tmp_path: Path, since: str | None) -> None:
    engine = _database(tmp_path / "app.db", ITEM_ROWS, CUSTOMER_ROWS)
    assert app_db._read_sqlite_arrow(engine, "SELECT 1 AS one", None) is not None  # the fast path is taken
    for table in (ITEMS, CUSTOMERS):
        got = app_db.extract_changes(engine, table, since)
        expected = _through_sqlalchemy(engine, table, since)
        pd.testing.assert_frame_equal(got, expected, check_dtype=True)
    items = app_db.extract_changes(engine, ITEMS, None)
    assert items.order_id.tolist() == [1, 1, BIG, 2] and items.product_id.isna().tolist() == [False, True, False, False]


@pytest.mark.parametrize("rows_before", [0, 3000])  # in ADBC's first batch of rows, or after it
def test_a_column_holding_another_type_is_read_through_sqlalchemy_and_named(tmp_path: Path, rows_before: int) -> None:
    filler = [(10 + i, 1, 9, 1, 0.1 + 0.2, 0.0, "2026-01-01 00:00:00") for i in range(rows_before)]
    rows = [*filler, *ITEM_ROWS, (3, 1, 9, "two", 1.0, 0.0, "2026-01-04 00:00:00")]
    engine = _database(tmp_path / "app.db", rows, CUSTOMER_ROWS)
    with pytest.raises(app_db.SourceTypeChanged, match=r"order_items\.quantity: integer expected, found 'two'"):
        app_db.extract_changes(engine, ITEMS, None)


def test_a_real_column_mixed_with_text_is_not_taken_from_adbc(tmp_path: Path) -> None:
    """ADBC reads it as text, and a real through text may lose digits: SQLAlchemy's path names it."""
    rows = [(1, 1, 7, 2, 0.1 + 0.2, 0.0, "2026-01-01 10:00:00"), (1, 2, 7, 1, "n/a", 0.0, "2026-01-01 10:00:00")]
    engine = _database(tmp_path / "app.db", rows, CUSTOMER_ROWS)
    read = app_db._read_sqlite_arrow(engine, f"SELECT {', '.join(ITEMS.columns)} FROM order_items", None)
    assert read is not None and read.schema.field("unit_price").type == "string"
    assert not app_db._as_the_contract_types(read, ITEMS)
    with pytest.raises(app_db.SourceTypeChanged, match=r"order_items\.unit_price: real expected, found 'n/a'"):
        app_db.extract_changes(engine, ITEMS, None)


def test_a_database_that_is_no_sqlite_file_is_read_through_sqlalchemy() -> None:
    assert app_db._read_sqlite_arrow(app_db.connect("sqlite://"), "SELECT 1", None) is None
