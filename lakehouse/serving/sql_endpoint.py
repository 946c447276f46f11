"""The Spark Connect SQL endpoint: `sc://host:port` with every gold table visible and no setup.

Embedded engine: a Sail server whose *global temporary* database is named `gold`. Sail keeps each
session's catalog to itself, but global temporary views are shared by every session of a server,
so a view `gold.daily_sales` created here resolves in any client's new session. Sail's view pins
the Delta snapshot it was created on, so `GoldCatalog` replaces a view whenever its table's
version changes (checked every `serving.refresh_seconds`, and before each `POST /sql`).

Spark engine: the JVM session runs Spark's Connect plugin; tables registered in the session
catalog (`CREATE TABLE ... USING delta LOCATION`) are shared by all its sessions and always read
the latest version, so only new tables need registering.

Neither has authentication, and a Connect session can read any file the engine can: the engine
listens on a random loopback port, and clients reach it through `sql_gateway.Gateway` on
`serving.host:sql_port`, which checks their API key and admits only reads of the gold tables
registered here.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import SparkSession

from lakehouse.config import Config
from lakehouse.engine import get_session, start_sail_server
from lakehouse.serving.sql_gateway import Gateway, Tls, check_binding, self_signed
from lakehouse.serving.tables import TableStore
from lakehouse.storage import Lake

log = logging.getLogger(__name__)
CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"


@dataclass
class SqlEndpoint:
    session: SparkSession
    port: int  # the gateway's, for clients
    catalog: GoldCatalog
    server: object | None = None  # the Sail server on the embedded engine
    gateway: Gateway | None = None
    engine_port: int = 0  # the engine's own Connect port, on loopback

    @property
    def tls(self) -> Tls | None:
        return self.gateway.tls if self.gateway is not None else None

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        self.catalog.stop()
        if self.server is not None:
            self.server.stop()  # type: ignore[attr-defined]


class GoldCatalog:
    """Keeps `gold.<table>` current in the endpoint's shared catalog, for every visible gold table,
    and its session in use: the engine frees sessions idle for its idle time (Sail: 15 minutes),
    so a query is sent at least every `keepalive` seconds."""

    KEEPALIVE = 60.0

    def __init__(self, spark: SparkSession, store: TableStore, lake: Lake, views: bool, interval: float,
                 keepalive: float = KEEPALIVE) -> None:
        self.spark, self.store, self.lake = spark, store, lake
        self.views = views
        self.interval = interval
        self.keepalive = keepalive
        self._used = time.monotonic()
        self._seen: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Create or replace what changed since the last call (cheap when nothing did)."""
        with self._lock:
            for table in self.store.gold_tables():
                version = self.store.version(table)
                if self._seen.get(table, -1) == version:
                    continue
                self._used = time.monotonic()
                if self.views:
                    name = table.split(".", 1)[1]
                    path = str(self.store.path(table)).replace("`", "``")
                    self.spark.sql(f"CREATE OR REPLACE GLOBAL TEMPORARY VIEW {name} AS SELECT * FROM delta.`{path}`")
                else:
                    self.lake.register(table)
                log.info("sql endpoint: %s at version %s", table, version)
                self._seen[table] = version

    def tables(self) -> frozenset[str]:
        """The gold tables registered so far: what the endpoint serves."""
        with self._lock:
            return frozenset(self._seen)

    def _loop(self) -> None:
        while not self._stop.wait(min(self.interval, self.keepalive)):
            try:
                self.refresh()
                if time.monotonic() - self._used >= self.keepalive:
                    self.spark.sql("SELECT 1").collect()
                    self._used = time.monotonic()
            except Exception:  # keep serving the last good catalog; the next round retries
                log.exception("sql endpoint: refreshing gold tables failed")

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="gold-catalog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


LOOPBACK = "127.0.0.1"


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def sql_tls(config: Config, host: str) -> Tls | None:
    """The gateway's certificate: the configured one, one made for `host` when `serving.sql_tls`
    is on without one, or None (plaintext, loopback only)."""
    serving = config.serving
    if serving.sql_tls_cert is not None and serving.sql_tls_key is not None:
        return Tls(serving.sql_tls_cert, serving.sql_tls_key)
    if serving.sql_tls_cert is not None or serving.sql_tls_key is not None:
        raise ValueError("serving.sql_tls_cert and serving.sql_tls_key go together: set both or neither")
    if serving.sql_tls:
        return self_signed(config.data_dir / "serving-tls", host)
    return None


def start_sql_endpoint(config: Config, host: str, port: int, *, api_keys: Sequence[str]) -> SqlEndpoint:
    """Start the engine on loopback and the gateway on `host:port`; return them with the session
    the API uses (connected to the engine directly)."""
    tls = sql_tls(config, host)
    check_binding(host, api_keys, tls)  # before the engine starts: a refusal costs nothing
    kind = config.engine.kind
    server = None
    if kind == "embedded":
        # outside clients: the sessions they abandon are freed after Sail's idle time
        server = start_sail_server(LOOPBACK, global_temp_database="gold", idle_session_seconds=None)
        engine_port = int(server.listening_address[1])
        url = f"sc://{LOOPBACK}:{engine_port}"
        session_config = config.model_copy(
            update={"engine": config.engine.model_copy(update={"kind": "connect", "connect_url": url})}
        )
    elif kind == "spark":
        engine_port = _free_loopback_port()
        conf = {**config.engine.conf, "spark.plugins": CONNECT_PLUGIN,
                "spark.connect.grpc.binding.address": LOOPBACK, "spark.connect.grpc.binding.port": str(engine_port)}
        session_config = config.model_copy(update={"engine": config.engine.model_copy(update={"conf": conf})})
    else:
        raise ValueError("the SQL endpoint runs on the embedded or spark engine; 'connect' already has one")
    session = get_session(session_config)
    store = TableStore(config.lake, hidden=config.serving.hidden_tables)
    catalog = GoldCatalog(session, store, Lake(session, config.lake), kind == "embedded",
                          config.serving.refresh_seconds)
    catalog.start()
    try:
        gateway = Gateway(host, port, f"{LOOPBACK}:{engine_port}", api_keys, catalog.tables, tls=tls,
                          before=catalog.refresh)
    except OSError:
        SqlEndpoint(session, port, catalog, server).stop()
        raise
    gateway.start()
    return SqlEndpoint(session, gateway.port, catalog, server, gateway, engine_port)
