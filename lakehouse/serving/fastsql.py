"""The API's fast query path: Spark SQL over Arrow snapshots of Delta tables, run by DuckDB.

`POST /sql` statements and the KPIs' pre-aggregates (`kpis.py`) are Spark SQL; here sqlglot
translates them to DuckDB and table names `<layer>.<table>` become Arrow snapshots pinned to the
versions the caller keyed its cache on. DuckDB runs with external access disabled, so a query
can only see those snapshots. A query takes a few milliseconds, against tens of milliseconds
through a Spark session.

Each worker thread keeps one DuckDB cursor with the snapshots it last used registered on it:
registering an Arrow table costs more than a small aggregate over it, so it happens once per
thread and table version, not once per query.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from lakehouse.serving.tables import TableStore


def _local_name(table: str) -> str:
    return table.replace(".", "__")


@functools.lru_cache(maxsize=1024)
def to_duckdb(spark_sql: str) -> tuple[str, frozenset[str]]:
    """Translate Spark SQL to DuckDB with `<layer>.<table>` renamed to local names; returns the tables."""
    tree = sqlglot.parse_one(spark_sql, read="spark")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables: set[str] = set()
    for node in tree.find_all(exp.Table):
        if node.db:
            full = f"{node.db}.{node.name}"
            tables.add(full)
            node.replace(exp.to_table(_local_name(full)).as_(node.alias_or_name))
        elif node.name not in ctes:
            raise ValueError(f"table '{node.name}' must be named <layer>.<table>")
    return tree.sql(dialect="duckdb"), frozenset(tables)


def _plain_numbers(table: pa.Table) -> pa.Table:
    """DuckDB sums integers into 128-bit decimals: give JSON clients integers. Decimals with a
    scale (money) stay decimals, exact to their last digit."""
    for i, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type) and field.type.scale == 0:
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    return table


class _ThreadCursor(threading.local):
    """Per thread (`threading.local` runs `__init__` in each): its cursor and what it registered."""

    def __init__(self) -> None:
        self.cursor: duckdb.DuckDBPyConnection | None = None
        self.registered: dict[str, int] = {}


class FastSql:
    """Runs Spark SQL on Arrow snapshots with an in-memory DuckDB that cannot touch files."""

    def __init__(self, store: TableStore) -> None:
        self.store = store
        # Timestamps come back in UTC, as the lake keeps them, whatever the machine's zone.
        self._db = duckdb.connect(":memory:", config={"enable_external_access": False, "threads": 1})
        self._db.execute("SET GLOBAL TimeZone = 'UTC'")
        self._lock = threading.Lock()
        self._local = _ThreadCursor()

    def connection(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the shared in-memory database (close it after use)."""
        with self._lock:
            return self._db.cursor()

    def _cursor_for(self, tables: frozenset[str], versions: Mapping[str, int | None]) -> duckdb.DuckDBPyConnection:
        """This thread's cursor, with `tables` registered at `versions` (their latest when absent)."""
        local = self._local
        if local.cursor is None:
            local.cursor = self.connection()
        for table in tables:
            version = versions.get(table)
            if version is None:
                version = self.store.version(table)
                if version is None:
                    raise LookupError(f"table {table} does not exist")
            if local.registered.get(table) != version:
                local.cursor.register(_local_name(table), self.store.snapshot(table, version))
                local.registered[table] = version
        return local.cursor

    def _run(self, spark_sql: str, versions: Mapping[str, int | None] | None, timeout: float | None,
             fetch: Any) -> Any:
        sql, tables = to_duckdb(spark_sql)
        cursor = self._cursor_for(tables, versions or {})
        timer = threading.Timer(timeout, cursor.interrupt) if timeout else None
        if timer:
            timer.start()
        try:
            return fetch(cursor, sql)
        finally:
            if timer:
                timer.cancel()

    def query(
        self, spark_sql: str, versions: Mapping[str, int | None] | None = None, timeout: float | None = None
    ) -> pa.Table:
        """Result of `spark_sql`; tables are read at `versions` (their latest when not given)."""
        return _plain_numbers(self._run(spark_sql, versions, timeout, lambda c, sql: c.sql(sql).to_arrow_table()))
