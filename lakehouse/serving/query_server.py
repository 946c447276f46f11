"""The engine `POST /sql` runs on: a Spark Connect server in a child process, which can be killed.

Neither engine can stop every plan it is asked to cancel: a nested-loop join (a self cross join
with a filter, say) runs in code that never looks at the cancellation flag, on Sail's runtime
threads or in the JVM's task threads, until it ends, which may be never. While it runs it holds
the cores, so the next queries wait and, on Sail, even the interrupt request waits. So `/sql`
runs on an engine of its own, a child process (Sail's server, or JVM Spark with the Connect
plugin) whose `gold` database holds global temporary views over the gold tables: a query the
engine does not stop when interrupted is stopped by killing the child, and a new one starts.
The child ends by itself when this process does (it waits on a pipe from us).

Every engine's client session is kept, never closed nor collected, for as long as this process
runs: PySpark's `SparkSession.__del__` closes its client, and closing any client shuts
down the ReleaseExecute thread pool every Connect session of the process shares, waiting, under
a class-wide lock every Connect query takes, for release calls that retry against the killed
engine for up to 15 attempts with backoff (minutes). Run by the garbage collector on whichever
thread it happened to run on (the PostgreSQL endpoint's event loop, say), that stalled the thread
and every Connect query with it, the new engine's start included.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any, cast

from pyspark.sql import SparkSession
from pyspark.sql.connect.session import SparkSession as RemoteSession

from lakehouse.config import Config
from lakehouse.daemons import free_port
from lakehouse.serving.sql_endpoint import GoldCatalog
from lakehouse.serving.tables import TableStore
from lakehouse.storage import Lake

log = logging.getLogger(__name__)
CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"


class EngineUnavailable(RuntimeError):
    """The query engine is starting or restarting."""


def _child(config: Config, conn: Connection) -> None:  # pragma: no cover - runs in the child process
    """Start the engine's Spark Connect server on 127.0.0.1, send its port, run until the parent goes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process ends
    from lakehouse.serving.logs import quiet_libraries

    quiet_libraries()
    if config.engine.kind == "embedded":
        from lakehouse.engine import start_sail_server

        server = start_sail_server(global_temp_database="gold")
        port = int(server.listening_address[1])
    else:
        from lakehouse.engine import get_session

        port = free_port()
        conf = {**config.engine.conf, "spark.plugins": CONNECT_PLUGIN, "spark.ui.enabled": "false",
                "spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(port),
                "spark.sql.globalTempDatabase": "gold", "spark.driver.memory": "1g",
                "spark.ui.showConsoleProgress": "false"}  # its progress bars would cross the server's log
        engine = config.engine.model_copy(update={"conf": conf})
        session = get_session(config.model_copy(update={"engine": engine}))
        # task failures quote the values that failed; the API answers them, the log never holds them
        session.sparkContext.setLogLevel("FATAL")
    conn.send(port)
    with contextlib.suppress(EOFError, OSError):
        conn.recv()  # nothing is ever sent: this returns (EOFError) when the parent ends
    os._exit(0)


class QueryServer:
    """A killable engine for `/sql`: `session()` while it is up, `restart()` to kill and replace it."""

    def __init__(self, config: Config, start_timeout: float = 300.0) -> None:
        self.config = config
        self.start_timeout = start_timeout
        self._lock = threading.Lock()
        self._process: Any = None
        self._session: RemoteSession | None = None
        self._catalog: GoldCatalog | None = None
        self._generation = 0
        self._pipe: Connection | None = None  # held open: the child ends when it closes
        self._stopped = False
        self._sessions: list[RemoteSession] = []  # every session made, kept from their finalizer

    def start(self) -> None:
        """Start the child; blocks until it serves (call from a thread to start it beside other work)."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_child, args=(self.config, child), name="lakehouse-sql-engine", daemon=True)
        process.start()
        child.close()
        if not parent.poll(self.start_timeout):
            process.kill()
            raise EngineUnavailable(f"the SQL engine did not start within {self.start_timeout:g} s")
        port = parent.recv()
        session = RemoteSession(connection=f"sc://127.0.0.1:{port}")
        with self._lock:
            self._sessions.append(session)  # see the module's docstring
        store = TableStore(self.config.lake, hidden=self.config.serving.hidden_tables)
        spark = cast(SparkSession, session)  # a Connect session does what the catalog asks of one
        catalog = GoldCatalog(spark, store, Lake(spark, self.config.lake), True, 3600.0)
        catalog.refresh()
        self._warm(session, catalog)
        with self._lock:
            if self._stopped:
                process.kill()
                return
            self._process, self._pipe = process, parent
            self._session, self._catalog = session, catalog
            self._generation += 1
        log.info("sql engine: ready")

    @staticmethod
    def _warm(session: RemoteSession, catalog: GoldCatalog) -> None:
        """Read a row of each gold table before the engine serves: a cold JVM's first read of a
        Delta table (its log, the classes, the code generated) can take longer than a query's time
        limit on a loaded machine, and a query cancelled at the limit replaces the engine by a
        new, as cold one."""
        for table in sorted(catalog.tables()):
            try:
                session.sql(f"SELECT * FROM {table} LIMIT 1").toArrow()
            except Exception:  # noqa: BLE001 - the table's first query tells
                log.debug("sql engine: warming %s failed", table, exc_info=True)

    def session(self) -> tuple[RemoteSession, int]:
        """The session and its generation (which says whether a restart came in between)."""
        with self._lock:
            if self._session is None:
                raise EngineUnavailable("the SQL engine is starting")
            return self._session, self._generation

    def generation(self) -> int:
        """The running engine's generation, -1 while none runs."""
        with self._lock:
            return self._generation if self._session is not None else -1

    def refresh(self) -> None:
        with self._lock:
            catalog = self._catalog
        if catalog is not None:
            catalog.refresh()

    def restart(self, generation: int) -> None:
        """Kill the engine of `generation` (if it still runs) and start another in the background."""
        with self._lock:
            if generation != self._generation or self._session is None or self._stopped:
                return
            process = self._process
            self._session, self._catalog = None, None
        log.warning("sql engine: replacing the engine a cancelled query may still hold")
        process.kill()
        # The old session is left as it is, and kept (`_sessions`): closing it waits for calls that
        # retry against the dead server, and shuts down a thread pool PySpark shares between sessions.
        threading.Thread(target=process.join, name="sql-engine-reap", daemon=True).start()
        threading.Thread(target=self.start_logged, name="sql-engine-start", daemon=True).start()

    def start_logged(self) -> None:
        """`start`, for a thread of its own: a failure is logged and the start tried again
        (/sql answers 503 meanwhile)."""
        while not self._stopped:
            try:
                self.start()
                return
            except Exception:
                log.exception("sql engine: start failed; trying again")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            process, self._session = self._process, None
        if process is not None:
            process.kill()
