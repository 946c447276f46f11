"""The Spark Connect SQL endpoint: `sc://host:port` with every gold table visible and no setup.

Embedded engine: a Sail server whose *global temporary* database is named `gold`. Sail keeps each
session's catalog to itself, but global temporary views are shared by every session of a server,
so a view `gold.daily_sales` created here resolves in any client's new session. Sail's view pins
the Delta snapshot it was created on, so `GoldCatalog` replaces a view whenever its table's
version changes (checked every `serving.refresh_seconds`, and before each `POST /sql`).

Spark engine: the JVM session runs Spark's Connect plugin; tables registered in the session
catalog (`CREATE TABLE ... USING delta LOCATION`) are shared by all its sessions and always read
the latest version, so only new tables need registering.

Spark Connect has no authentication: the endpoint listens on localhost unless told otherwise.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from pyspark.sql import SparkSession

from lakehouse.config import Config
from lakehouse.engine import get_session
from lakehouse.serving.tables import TableStore
from lakehouse.storage import Lake

log = logging.getLogger(__name__)
CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"


@dataclass
class SqlEndpoint:
    session: SparkSession
    port: int
    catalog: GoldCatalog
    server: object | None = None  # the Sail server on the embedded engine

    def stop(self) -> None:
        self.catalog.stop()
        if self.server is not None:
            self.server.stop()  # type: ignore[attr-defined]


class GoldCatalog:
    """Keeps `gold.<table>` current in the endpoint's shared catalog, for every visible gold table."""

    def __init__(self, spark: SparkSession, store: TableStore, lake: Lake, views: bool, interval: float) -> None:
        self.spark, self.store, self.lake = spark, store, lake
        self.views = views
        self.interval = interval
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
                if self.views:
                    name = table.split(".", 1)[1]
                    path = str(self.store.path(table)).replace("`", "``")
                    self.spark.sql(f"CREATE OR REPLACE GLOBAL TEMPORARY VIEW {name} AS SELECT * FROM delta.`{path}`")
                else:
                    self.lake.register(table)
                log.info("sql endpoint: %s at version %s", table, version)
                self._seen[table] = version

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # keep serving the last good catalog; the next round retries
                log.exception("sql endpoint: refreshing gold tables failed")

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="gold-catalog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def start_sql_endpoint(config: Config, host: str, port: int) -> SqlEndpoint:
    """Start the endpoint for `config.engine` and return it with the session the API uses."""
    kind = config.engine.kind
    server = None
    if kind == "embedded":
        # Read by Sail when the server starts: global temporary views live in `gold`.
        os.environ["SAIL_CATALOG__GLOBAL_TEMPORARY_DATABASE"] = '["gold"]'
        os.environ.setdefault("RUST_LOG", "error")
        from pysail.spark import SparkConnectServer

        server = SparkConnectServer(ip=host, port=port)
        server.start(background=True)
        port = int(server.listening_address[1])
        url = f"sc://{_connect_host(host)}:{port}"
        session_config = config.model_copy(
            update={"engine": config.engine.model_copy(update={"kind": "connect", "connect_url": url})}
        )
    elif kind == "spark":
        conf = {**config.engine.conf, "spark.plugins": CONNECT_PLUGIN,
                "spark.connect.grpc.binding.address": host, "spark.connect.grpc.binding.port": str(port)}
        session_config = config.model_copy(update={"engine": config.engine.model_copy(update={"conf": conf})})
    else:
        raise ValueError("the SQL endpoint runs on the embedded or spark engine; 'connect' already has one")
    session = get_session(session_config)
    store = TableStore(config.lake_dir, hidden=config.serving.hidden_tables)
    catalog = GoldCatalog(session, store, Lake(session, config.lake_dir), kind == "embedded",
                          config.serving.refresh_seconds)
    catalog.start()
    return SqlEndpoint(session, port, catalog, server)
