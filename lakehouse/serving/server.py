"""`lakehouse serve`: the SQL endpoint, then the REST API and dashboard under uvicorn."""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from types import FrameType

import uvicorn
from fastapi import APIRouter

from lakehouse.config import Config
from lakehouse.serving.app import access_log, create_app
from lakehouse.serving.logs import quiet_libraries
from lakehouse.serving.pg_endpoint import start_pg_endpoint
from lakehouse.serving.query_server import QueryServer
from lakehouse.serving.sql_endpoint import start_sql_endpoint
from lakehouse.serving.sql_runner import EngineSqlRunner

log = logging.getLogger(__name__)
# SIGTERM: requests in flight get this long to finish, then the process ends within STOP_SECONDS
# whatever still runs (an engine call that does not return, a JVM that does not stop).
GRACEFUL_SECONDS, STOP_SECONDS = 2, 4.0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: without it a keep-alive client waits out delayed ACKs (40 ms)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def serve(
    config: Config,
    host: str,
    port: int,
    sql_port: int,
    api_keys: Sequence[str],
    routers: Sequence[APIRouter] = (),
    on_ready: Callable[[int, int, int | None], None] = lambda api_port, sql_port, pg_port: None,
    pg_port: int | None = None,
) -> None:
    """Run until interrupted. `on_ready(api_port, sql_port, pg_port)` is called once the ports are
    bound (`pg_port` None: no PostgreSQL endpoint)."""
    sock = _bind(host, port)  # bound first: a busy port fails before the engine starts
    quiet_libraries()
    # one line per request (method, path, status, time: `AccessLog`), whatever the log level
    access_log.setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))
    # POST /sql's engine, a child process, starts in the background: until it serves (seconds on
    # Sail, a minute or more for a JVM) /sql answers 503 with Retry-After, everything else is up
    engine = QueryServer(config)
    threading.Thread(target=engine.start_logged, name="sql-engine-start", daemon=True).start()
    endpoint = start_sql_endpoint(config, host, sql_port, api_keys=api_keys)
    pg = None
    try:
        runner = EngineSqlRunner(engine, max_queries=config.serving.max_concurrent_queries, grace=5.0,
                                 restart_after_timeout=config.engine.kind == "spark")
        if pg_port is not None:  # the same runner as POST /sql: one engine, one cap, one time limit
            pg = start_pg_endpoint(config, host, pg_port, api_keys, runner)
        app = create_app(config, api_keys=api_keys, sql_runner=runner, routers=routers)
        # log_config=None: uvicorn's own setup would re-enable the loggers quiet_libraries turned off
        server = _Server(uvicorn.Config(app, access_log=False, log_level="warning", log_config=None,
                                        timeout_graceful_shutdown=GRACEFUL_SECONDS))
        quiet_libraries()
        on_ready(int(sock.getsockname()[1]), endpoint.port, pg.port if pg is not None else None)
        # Everything loaded so far (PySpark, pandas, FastAPI: ~300k objects) lives as long as the
        # server: out of the collector's sight, a full collection no longer stalls every request
        # in flight for ~0.2 s (KPI p95 under load: 140-195 ms without, 59-68 ms with).
        gc.freeze()
        server.run(sockets=[sock])
    finally:
        _exit_soon(STOP_SECONDS)
        engine.stop()
        endpoint.stop()
        if pg is not None:
            pg.stop()


class _Server(uvicorn.Server):
    """uvicorn's server, whose stop signal also sets a deadline for the whole process."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        _exit_soon(STOP_SECONDS)
        super().handle_exit(sig, frame)


_exiting = threading.Lock()


def _exit_soon(seconds: float) -> None:
    """End the process `seconds` from now if it has not ended by then: requests waiting on the
    engine, and the engines' clean-up (a JVM stopping its jobs, Sail its server), must not keep a
    stopped server alive. Only the first call counts."""
    if not _exiting.acquire(blocking=False):
        return

    def _exit() -> None:
        log.warning("stopping: engine clean-up did not finish in time; exiting")
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, _exit)
    timer.daemon = True
    timer.start()
