"""The PostgreSQL endpoint of `lakehouse serve --pg-port`: psql, JDBC/ODBC and BI tools over gold.

Database `lakehouse`, any user name, a password of `LAKEHOUSE_API_KEYS` (SCRAM-SHA-256). Each
statement is one of three kinds:

- session commands (`SET`, `RESET`, `SHOW`, `BEGIN`/`COMMIT`/`ROLLBACK`, `DISCARD`, `DEALLOCATE`):
  accepted and change nothing (`SHOW` answers the setting clients expect);
- catalog queries (`pg_catalog`, `information_schema`, or no table at all: `SELECT version()`,
  `SELECT 1`): answered by `pg_catalog.PgCatalog` from the gold tables' schemas, without the engine;
- everything else is read as PostgreSQL (sqlglot), its bind parameters put in as literals in the
  tree, written out as Spark SQL and put through the guard of `POST /sql` and the Spark SQL
  endpoint (`sql_guard.check_query`: one read-only SELECT over served gold tables, no file
  readers), then run by the same runner as `POST /sql` (its engine, its cap on queries at once,
  its time limit `serving.sql_timeout_seconds`) and capped at `serving.row_limit` rows (a NOTICE
  says when a result was cut). A query waits for a free slot rather than failing while others run;
  engine calls run on threads of their own, as many as the runner's cap, so the endpoint's own work
  (logins, the catalog, `SELECT 1`, SET/SHOW) never waits behind them, and a client that leaves
  mid-query frees its slot.

One guard, three doors: refusals give SQLSTATE 42501 and the guard's reason. The log names the
kind of a failure only, never a statement, a value or a key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import functools
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from lakehouse.config import Config
from lakehouse.serving import pg_wire as w
from lakehouse.serving.pg_catalog import SETTINGS, GoldTable, PgCatalog, check_catalog_functions, columns_of
from lakehouse.serving.query_server import EngineUnavailable
from lakehouse.serving.security import UnsafeBinding, is_local
from lakehouse.serving.sql_guard import QueryRejected, check_query
from lakehouse.serving.sql_runner import QueryBusy, QueryCancelled, QueryTimeout, SqlRunner
from lakehouse.serving.tables import TableStore

log = logging.getLogger(__name__)
T = TypeVar("T")
OWN_THREADS = 2  # the endpoint's own blocking work: catalog queries, table listings and versions
SESSION = re.compile(r"^\s*(SET|RESET|SHOW|BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|DISCARD|"
                     r"DEALLOCATE|CLOSE|UNLISTEN|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
CATALOG_TEXT = re.compile(r"\b(pg_catalog|information_schema)\s*\.", re.IGNORECASE)
DATED = re.compile(r"(\d{4}-\d{2}-\d{2})( \d{2}:\d{2}:\d{2}(?:\.\d+)?)?(?: ?[+-]\d{2}(?::?\d{2})?)?")
NUMBERS = (w.INT2, w.INT4, w.INT8, w.FLOAT4, w.FLOAT8, w.NUMERIC, w.OID)
REFUSED = "42501"


@dataclass
class Statement:
    sql: str
    kind: str  # session, catalog or gold
    param_oids: list[int]
    tree: Any = None  # the parsed statement (sqlglot)
    columns: list[w.Column] | None = field(default=None)  # once described


def _parameters(sql: str) -> int:
    numbers = [int(n) for n in re.findall(r"\$(\d+)", sql)]
    return max(numbers, default=0)


def _literal(value: Any, oid: int) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool) or (oid == w.BOOL and isinstance(value, str)):
        truth = value if isinstance(value, bool) else value.lower() in ("t", "true", "1", "on", "yes")
        return exp.Boolean(this=truth)
    if isinstance(value, int | float | decimal.Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    text = str(value)
    if oid in NUMBERS:
        try:
            return exp.Literal.number(str(decimal.Decimal(text)))
        except decimal.InvalidOperation:
            raise w.PgError(f"invalid input syntax for a parameter of type {oid}", "22P02") from None
    dated = DATED.fullmatch(text) if oid in (0, w.DATE, w.TIMESTAMP, w.TIMESTAMPTZ) else None
    if dated and (oid == w.DATE or (oid == 0 and not dated.group(2))):  # pgJDBC's setDate: '2026-03-11 +00'
        return exp.cast(exp.Literal.string(dated.group(1)), "DATE")
    if dated and oid == 0:  # setTimestamp: '2026-03-11 06:30:00+00'
        return exp.cast(exp.Literal.string(text), "TIMESTAMP")
    if oid == w.DATE:
        return exp.cast(exp.Literal.string(text), "DATE")
    if oid in (w.TIMESTAMP, w.TIMESTAMPTZ):
        return exp.cast(exp.Literal.string(text), "TIMESTAMP")
    return exp.Literal.string(text)


def bind(tree: Any, values: Sequence[Any], oids: Sequence[int]) -> str:
    """Spark SQL for `tree` with its `$n` parameters replaced by literals of `values`."""
    bound = tree.copy()
    for node in list(bound.find_all(exp.Parameter)):
        name = node.name
        if not name.isdigit() or not 1 <= int(name) <= len(values):
            raise w.PgError(f"there is no parameter ${name}", "42P02")
        index = int(name) - 1
        node.replace(_literal(values[index], oids[index] if index < len(oids) else 0))
    return str(bound.sql(dialect="spark", comments=False))


def _table_qualified(tree: exp.Expr) -> exp.Expr:
    """Columns named `schema.table.column` (SQLAlchemy writes `gold.daily_sales.units` for a table
    with a schema) as `table.column`, which every engine resolves against `FROM gold.daily_sales`."""
    for column in tree.find_all(exp.Column):
        if column.args.get("db") is not None and column.args.get("table") is not None:
            column.set("db", None)
            column.set("catalog", None)
    return tree


# As POST /sql's `query`: a longer statement is refused before it is parsed.
MAX_STATEMENT_CHARS = 20_000


def _sqlstate(error: Exception) -> str:
    """PostgreSQL's class for a DuckDB error: invalid text for a type, a value out of range, else
    a data exception."""
    if isinstance(error, duckdb.ConversionException):
        return "22P02"
    if isinstance(error, duckdb.OutOfRangeException):
        return "22003"
    if isinstance(error, (duckdb.ParserException, duckdb.SyntaxException)):
        return "42601"
    return "22000"


def _cut_notice(rows: int) -> str:
    """The NOTICE of an answer cut at `rows`, from the catalog or the engine alike."""
    return f"result cut at {rows} rows (serving.row_limit): add a LIMIT or aggregate"


def _refused(exc: QueryRejected) -> w.PgError:
    log.info("pg endpoint: refused %s", exc)  # the guard's reason names tables and keywords, never values
    return w.PgError(f"refused by the lakehouse: {exc}", REFUSED)


class LakehouseBackend:
    """What statements mean: session no-ops, the catalog, or guarded Spark SQL on the engine."""

    def __init__(self, config: Config, runner: SqlRunner, store: TableStore | None = None) -> None:
        self.config = config
        self.serving = config.serving
        self.runner = runner
        self.store = store or TableStore(config.lake, hidden=self.serving.hidden_tables)
        self.catalog = PgCatalog(timeout=self.serving.sql_timeout_seconds)
        self._tables: tuple[float, list[str]] = (0.0, [])
        self._lock = threading.Lock()
        # Engine calls block a thread for as long as the query runs (up to the time limit): they
        # get threads of their own, as many as the runner runs at once, and queries past that wait
        # for a slot on the event loop. The endpoint's own work (catalog, table listings) has
        # other threads, so a slow or stuck engine never holds up `SELECT 1`, psql's `\dt` or a login.
        queries = self.serving.max_concurrent_queries
        self._slots = asyncio.Semaphore(queries)
        self._engine_threads = ThreadPoolExecutor(queries, thread_name_prefix="pg-engine")
        self._own_threads = ThreadPoolExecutor(OWN_THREADS, thread_name_prefix="pg-catalog")

    async def _own(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` on the endpoint's own threads, never behind an engine call."""
        return await asyncio.get_running_loop().run_in_executor(self._own_threads, functools.partial(call, *args))

    def close(self) -> None:
        self._engine_threads.shutdown(wait=False, cancel_futures=True)
        self._own_threads.shutdown(wait=False, cancel_futures=True)

    # -- the gold tables ------------------------------------------------------------------------
    def tables(self) -> list[str]:
        """The served gold tables, listed at most every `serving.refresh_seconds`."""
        with self._lock:
            at, tables = self._tables
        if time.monotonic() - at > self.serving.refresh_seconds:
            tables = self.store.gold_tables()
            with self._lock:
                self._tables = (time.monotonic(), tables)
        return tables

    def load_catalog(self) -> None:
        tables = self.tables()
        key = self.store.versions(tables)
        self.catalog.load(key, lambda: [self._gold_table(t) for t in tables])

    def _gold_table(self, table: str) -> GoldTable:
        from lakehouse.catalog import comments_of

        schema = self.store.snapshot(table).schema
        # the table's definition declares them; a comment kept in the Delta schema wins
        comments = comments_of(table)
        kept = {f.name: (f.metadata or {}).get(b"comment", b"").decode() for f in schema}
        comments.update({name: text for name, text in kept.items() if text})
        return GoldTable(table, schema, {k: v for k, v in comments.items() if k in schema.names})

    # -- statements -----------------------------------------------------------------------------
    def prepare(self, sql: str, param_oids: Sequence[int]) -> Statement:
        if len(sql) > MAX_STATEMENT_CHARS:  # as POST /sql: parsing a huge statement holds every session
            raise w.PgError(f"statement too long: {len(sql)} characters, at most {MAX_STATEMENT_CHARS}", "54000")
        try:
            return self._prepare(sql, param_oids)
        except RecursionError:
            raise w.PgError("statement nested too deeply", "54001") from None

    def _prepare(self, sql: str, param_oids: Sequence[int]) -> Statement:
        oids = list(param_oids) + [0] * max(_parameters(sql) - len(param_oids), 0)
        text = sql.strip().rstrip(";")
        if SESSION.match(text):
            return Statement(text, "session", oids)
        try:
            trees = [t for t in sqlglot.parse(text, read="postgres") if t is not None]
        except (ParseError, sqlglot.errors.TokenError) as exc:
            if CATALOG_TEXT.search(text):  # DuckDB reads PostgreSQL's syntax where sqlglot cannot
                return Statement(text, "catalog", oids)
            first = exc.errors[0]["description"] if isinstance(exc, ParseError) and exc.errors else "syntax error"
            raise _refused(QueryRejected(f"not valid PostgreSQL SQL: {first}")) from None
        if len(trees) != 1:
            raise _refused(QueryRejected(f"exactly one statement is allowed, got {len(trees)}"))
        tree = trees[0]
        tables = list(tree.find_all(exp.Table))
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        catalog = [t for t in tables if t.db.lower() in ("pg_catalog", "information_schema")
                   or (not t.db and t.name.lower().startswith("pg_") and t.name.lower() not in ctes)]
        data = [t for t in tables if t not in catalog and t.name.lower() not in ctes]
        if catalog and data:
            raise _refused(QueryRejected("catalog tables and gold tables cannot be read in one query"))
        if not data:
            if not isinstance(tree, (exp.Select, exp.Union, exp.Subquery)):
                raise _refused(QueryRejected(f"only SELECT is allowed, got {tree.key.upper()}"))
            try:
                check_catalog_functions(tree)
            except QueryRejected as exc:
                raise _refused(exc) from None
            return Statement(text, "catalog", oids)
        statement = Statement(text, "gold", oids, _table_qualified(tree))
        try:  # refused at Parse, as a server refuses a statement it cannot plan
            check_query(bind(tree, [None] * len(oids), oids), self.tables())
        except QueryRejected as exc:
            raise _refused(exc) from None
        return statement

    async def describe(self, statement: Statement) -> list[w.Column] | None:
        if statement.columns is None:
            result = await self._run(statement, [None] * len(statement.param_oids), limit=0)
            statement.columns = result.columns
        return statement.columns

    async def run(self, statement: Statement, values: Sequence[Any]) -> w.Result:
        return await self._run(statement, values, self.serving.row_limit)

    async def _run(self, statement: Statement, values: Sequence[Any], limit: int) -> w.Result:
        if statement.kind == "session":
            return self._session(statement.sql)
        if statement.kind == "catalog":
            try:
                columns, rows = await self._own(self._catalog_query, statement.sql, values, limit)
            except QueryRejected as exc:
                raise _refused(exc) from None
            except duckdb.Error as exc:  # a bad cast, an overflow: the client's error, the session goes on
                raise w.PgError(str(exc).splitlines()[0][:300], _sqlstate(exc)) from None
            except RecursionError:
                raise w.PgError("statement nested too deeply", "54001") from None
            notice = None
            if len(rows) > limit:
                if limit:
                    notice = _cut_notice(limit)
                rows = rows[:limit]
            return w.Result(f"SELECT {len(rows)}", columns, rows, notice)
        assert statement.tree is not None
        tables = await self._own(self.tables)
        try:
            checked = check_query(bind(statement.tree, values, statement.param_oids), tables)
        except QueryRejected as exc:
            raise _refused(exc) from None
        return await self._engine(checked.sql, sorted(checked.tables), limit)

    def _catalog_query(
        self, sql: str, values: Sequence[Any], limit: int
    ) -> tuple[list[w.Column], list[tuple[Any, ...]]]:
        self.load_catalog()
        return self.catalog.query(sql, values, limit)

    @staticmethod
    def _session(sql: str) -> w.Result:
        words = sql.split()
        verb = words[0].upper()
        if verb == "SHOW":
            name = " ".join(words[1:]).strip('"').lower()
            return w.Result("SHOW", [w.Column(name, w.TEXT)], [(SETTINGS.get(name, ""),)])
        if verb in ("BEGIN", "START"):
            return w.Result("BEGIN")
        if verb in ("COMMIT", "END"):
            return w.Result("COMMIT")
        if verb in ("ROLLBACK", "ABORT"):
            return w.Result("ROLLBACK")
        if verb == "DISCARD":
            return w.Result("DISCARD ALL")
        return w.Result(verb)

    async def _engine(self, sql: str, tables: list[str], limit: int) -> w.Result:
        serving = self.serving
        deadline = time.monotonic() + serving.sql_timeout_seconds
        versions = dict(await self._own(self.store.versions, tables))
        loop = asyncio.get_running_loop()
        cancelled = w.PgError(f"query cancelled after {serving.sql_timeout_seconds:g} s", "57014")
        try:  # queue here rather than answer "busy": BI tools send queries in bursts
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                await self._slots.acquire()
        except TimeoutError:
            log.warning("pg query cancelled at the time limit (%g s)", serving.sql_timeout_seconds)
            raise cancelled from None
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("pg query cancelled at the time limit (%g s)", serving.sql_timeout_seconds)
                    raise cancelled
                cancel = threading.Event()  # set if the client goes: the engine thread returns at once
                call = functools.partial(self.runner.run, sql, versions, limit, left, cancel)
                try:
                    result = await loop.run_in_executor(self._engine_threads, call)
                    break
                except asyncio.CancelledError:
                    cancel.set()
                    raise
                except QueryBusy:  # POST /sql holds the slots: wait for one, within the time limit
                    await asyncio.sleep(0.05)
                except QueryTimeout:
                    log.warning("pg query cancelled at the time limit (%g s)", serving.sql_timeout_seconds)
                    raise cancelled from None
                except QueryCancelled as exc:
                    raise w.PgError(str(exc), "57014") from None
                except EngineUnavailable as exc:
                    log.warning("pg query not run: %s", exc)
                    raise w.PgError(f"{exc}: try again shortly", "57P03") from None
                except Exception as exc:
                    log.warning("pg query failed: %s", type(exc).__name__)
                    log.debug("pg query failed: %s", exc)
                    raise w.PgError(f"query failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                                    "XX000") from None
        finally:
            self._slots.release()
        columns = columns_of(result.schema) if result.schema is not None else [
            w.Column(c, w.TEXT) for c in result.columns]
        rows = [tuple(row[c] for c in result.columns) for row in result.rows]
        notice = _cut_notice(serving.row_limit) if result.truncated and limit else None
        return w.Result(f"SELECT {len(rows)}", columns, rows, notice)


def pg_tls(config: Config, host: str) -> ssl.SSLContext | None:
    """TLS for the endpoint from `serving.pg_tls_cert`/`pg_tls_key`; refuses a non-loopback
    address without them (one line that says what to set)."""
    serving = config.serving
    if (serving.pg_tls_cert is None) != (serving.pg_tls_key is None):
        raise ValueError("serving.pg_tls_cert and serving.pg_tls_key go together: set both or neither")
    if serving.pg_tls_cert is None or serving.pg_tls_key is None:
        if not is_local(host):
            raise UnsafeBinding(f"refusing to serve PostgreSQL on {host} without TLS: set serving.pg_tls_cert "
                                "and serving.pg_tls_key (LAKEHOUSE_SERVING__PG_TLS_CERT, ..._PG_TLS_KEY)")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(serving.pg_tls_cert, serving.pg_tls_key)
    return context


class PgEndpoint:
    """The endpoint on an event loop of its own thread; `port` is where it listens."""

    def __init__(self, backend: LakehouseBackend, keys: Sequence[str], tls: ssl.SSLContext | None) -> None:
        self.server = w.PgServer(backend, keys, tls)
        self.backend = backend
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, name="pg-endpoint", daemon=True)

    def start(self, host: str, port: int) -> int:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(host, port), self.loop).result(30)
        threading.Thread(target=self._warm, name="pg-catalog", daemon=True).start()
        return self.port

    def _warm(self) -> None:
        try:
            self.backend.load_catalog()
        except Exception:  # the first catalog query tries again
            log.warning("pg endpoint: loading the catalog failed", exc_info=log.isEnabledFor(logging.DEBUG))

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.backend.close()


def start_pg_endpoint(config: Config, host: str, port: int, keys: Sequence[str], runner: SqlRunner) -> PgEndpoint:
    tls = pg_tls(config, host)
    endpoint = PgEndpoint(LakehouseBackend(config, runner), keys, tls)
    endpoint.start(host, port)
    return endpoint
