"""Runs a checked `POST /sql` statement with a row cap, a time limit and a cap on queries at once.

`EngineSqlRunner` runs it as Spark SQL on the engine of a `QueryServer` (Sail or JVM Spark in a
child process). At the time limit the caller gets `QueryTimeout` at once; the query is
interrupted through its tag, and if the engine has not stopped it `grace` seconds later (plans
such as a nested-loop join never look at the flag) the engine process is killed and replaced.
A query holds one of `max_queries` slots until the engine is done with it, not until its caller
gave up, so cancelled queries still running count against the cap; a caller that gives up
before the time limit (its client went away) sets `cancel`: the call returns at once, the query is
interrupted, and still ended as at the time limit if it runs on. `FastSqlRunner` runs it on
the fast path (DuckDB over Arrow snapshots) for apps started without an engine.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from lakehouse.serving.fastsql import FastSql
from lakehouse.serving.query_server import EngineUnavailable, QueryServer

log = logging.getLogger(__name__)


class QueryTimeout(TimeoutError):
    """The statement ran longer than the configured timeout and was cancelled."""


class QueryBusy(RuntimeError):
    """As many queries as allowed run already."""


class QueryCancelled(RuntimeError):
    """The caller gave up on the statement (its client went away) before the engine answered."""


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool
    schema: pa.Schema | None = None  # the result's column types (the PostgreSQL endpoint's type OIDs)


def _result(arrow: pa.Table, limit: int) -> SqlResult:
    rows = arrow.slice(0, limit).to_pylist()
    return SqlResult(arrow.column_names, rows, arrow.num_rows > limit, arrow.schema)


class SqlRunner(Protocol):
    def run(self, sql: str, versions: Mapping[str, int | None], limit: int, timeout: float,
            cancel: threading.Event | None = None) -> SqlResult: ...


class _Query:
    """One statement on its own daemon thread (a stuck engine call never holds up shutdown)."""

    def __init__(self, generation: int, slots: threading.BoundedSemaphore,
                 wake: threading.Event | None = None) -> None:
        self.generation = generation
        self.done = threading.Event()
        self.wake = wake if wake is not None else self.done  # set when it is done or its caller gave up
        self.arrow: pa.Table | None = None
        self.error: BaseException | None = None
        self._slots = slots
        self._lock = threading.Lock()

    def finish(self, arrow: pa.Table | None = None, error: BaseException | None = None) -> None:
        """The first call settles the query and frees its slot; later ones change nothing."""
        with self._lock:
            if self.done.is_set():
                return
            self.arrow, self.error = arrow, error
            self.done.set()
            self.wake.set()
        self._slots.release()


class EngineSqlRunner:
    """Spark SQL on the `QueryServer`'s engine, where `gold.<table>` resolves."""

    def __init__(self, engine: QueryServer, max_queries: int = 4, grace: float = 3.0,
                 restart_after_timeout: bool = False) -> None:
        self.engine = engine
        self.grace = grace
        # JVM Spark answers an interrupted query at once but leaves tasks that never look at the
        # kill flag running on its cores: there only a new engine is sure to be free.
        self.restart_after_timeout = restart_after_timeout
        self._slots = threading.BoundedSemaphore(max_queries)
        self._running: set[_Query] = set()
        self._lock = threading.Lock()

    def _collect(self, query: _Query, sql: str, limit: int, tag: str) -> None:
        try:
            self.engine.refresh()
            spark, _ = self.engine.session()
            spark.addTag(tag)
            try:
                query.finish(arrow=spark.sql(sql).limit(limit + 1).toArrow())
            finally:
                spark.removeTag(tag)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
            query.finish(error=exc)
        finally:
            with self._lock:
                self._running.discard(query)

    def _restart(self, generation: int) -> None:
        """Replace the engine; its queries are over (their calls may retry a dead server for minutes)."""
        self.engine.restart(generation)
        with self._lock:
            gone = [q for q in self._running if q.generation == generation]
        for query in gone:
            query.finish(error=EngineUnavailable("the SQL engine restarted while the query ran: run it again"))

    def _interrupt(self, tag: str, generation: int) -> None:
        try:
            spark, current = self.engine.session()
            if current == generation:
                spark.interruptTag(tag)
        except Exception:  # noqa: BLE001 - an engine too busy to answer is restarted by _cancel
            log.debug("sql: interrupting a query failed", exc_info=True)

    def _cancel(self, query: _Query, tag: str, generation: int) -> None:
        """Interrupt the tag; kill the engine if the query still runs `grace` seconds later.

        The interrupt has a thread of its own: Sail busy with a plan that never yields does not
        even answer it."""
        threading.Thread(target=self._interrupt, args=(tag, generation), name="sql-interrupt", daemon=True).start()
        if not query.done.wait(self.grace) or self.restart_after_timeout:
            self._restart(generation)

    def _abandon(self, query: _Query, tag: str, generation: int, deadline: float) -> None:
        """The caller left before the answer: interrupt the query now, and at its time limit do
        what a timeout does if it still runs (the slot stays taken until the engine is done)."""
        self._interrupt(tag, generation)
        if not query.done.wait(max(deadline - time.monotonic(), 0.0)):
            self._cancel(query, tag, generation)

    def run(self, sql: str, versions: Mapping[str, int | None], limit: int, timeout: float,
            cancel: threading.Event | None = None) -> SqlResult:
        """The statement's result within `timeout` seconds. Setting `cancel` (the caller's client
        went away) makes this return at once with `QueryCancelled`; the runner sets it too once
        the query is done, so pass a new event for each call."""
        _, generation = self.engine.session()  # EngineUnavailable while it (re)starts
        if not self._slots.acquire(blocking=False):
            raise QueryBusy("too many queries running: try again shortly")
        deadline = time.monotonic() + timeout
        query, tag = _Query(generation, self._slots, cancel), f"lakehouse-sql-{uuid.uuid4().hex}"
        with self._lock:
            self._running.add(query)
        threading.Thread(target=self._collect, args=(query, sql, limit, tag), name="sql-query", daemon=True).start()
        if not query.wake.wait(timeout):
            threading.Thread(target=self._cancel, args=(query, tag, generation), name="sql-cancel",
                             daemon=True).start()
            raise QueryTimeout(f"query cancelled after {timeout:g} s")
        if not query.done.is_set():
            threading.Thread(target=self._abandon, args=(query, tag, generation, deadline), name="sql-abandon",
                             daemon=True).start()
            raise QueryCancelled("the query was cancelled: its client went away")
        if query.error is not None:
            if isinstance(query.error, EngineUnavailable) or self.engine.generation() != generation:
                raise EngineUnavailable("the SQL engine restarted while the query ran: run it again")
            raise query.error
        assert query.arrow is not None
        return _result(query.arrow, limit)


class FastSqlRunner:
    def __init__(self, fast: FastSql) -> None:
        self.fast = fast

    def run(self, sql: str, versions: Mapping[str, int | None], limit: int, timeout: float,
            cancel: threading.Event | None = None) -> SqlResult:
        wrapped = f"SELECT * FROM ({sql}) AS q LIMIT {limit + 1}"
        return _result(self.fast.query(wrapped, versions, timeout=timeout), limit)
