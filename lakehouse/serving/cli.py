"""`lakehouse serve`: REST API, KPI dashboard and Spark Connect SQL endpoint."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lakehouse.config import Config
from lakehouse.console import console, err, need_extras, state

if TYPE_CHECKING:
    from fastapi import APIRouter


def _ml_routers(config: Config) -> list[APIRouter]:
    """`POST /predict` when the ml extra is installed; without it, one line says it is off, and
    the route answers 501 with the same reason (not a 404 a client would read as a wrong URL)."""
    from lakehouse.extras import install_hint, installed

    if not installed("ml"):
        reason = f"POST /predict is off: the churn model needs the ml extra ({install_hint(['ml'])})"
        err.print(escape(reason), highlight=False)
        return [_predict_off(reason)]
    from lakehouse.ml.api import build_router

    return [build_router(config)]


def _predict_off(reason: str) -> APIRouter:
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse

    from lakehouse.serving.errors import error_responses

    router = APIRouter(tags=["model"])

    @router.post("/predict", responses=error_responses(501))
    def predict() -> JSONResponse:
        """Churn scores: not served here, the ml extra is not installed."""
        return JSONResponse({"detail": reason}, status_code=501)

    return router


def serve(
    port: Annotated[int | None, typer.Option(help="REST API port (serving.port; 0 = any free port).",
                                             min=0, max=65535)] = None,
    sql_port: Annotated[int | None, typer.Option(help="Spark Connect port (serving.sql_port).", min=0, max=65535)]
    = None,
    host: Annotated[str | None, typer.Option(help="Address for both (serving.host); non-local needs keys.")] = None,
    pg_port: Annotated[int | None, typer.Option(help="PostgreSQL protocol port (serving.pg_port; off unless set).",
                                                   min=0, max=65535)]
    = None,
) -> None:
    """Serve the REST API (/docs), the dashboard (/dashboard), a Spark Connect SQL endpoint and,
    with --pg-port, a PostgreSQL endpoint (psql, JDBC, BI tools)."""
    need_extras("lakehouse serve", "serve")
    from lakehouse.serving.pg_endpoint import pg_tls
    from lakehouse.serving.security import UnsafeBinding, keys_from_env, resolve_keys
    from lakehouse.serving.server import serve as run_server
    from lakehouse.serving.sql_endpoint import sql_tls
    from lakehouse.serving.sql_gateway import check_binding

    config = state.config
    serving = config.serving
    host = host or serving.host
    pg_port = pg_port if pg_port is not None else serving.pg_port
    try:
        keys, generated = resolve_keys(host, keys_from_env())
        tls = sql_tls(config, host)
        check_binding(host, keys, tls)
        if pg_port is not None:
            pg_tls(config, host)  # refused off loopback without a certificate, before anything starts
    except (UnsafeBinding, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)  # one line, however wide
        raise typer.Exit(2) from None

    def ready(api_port: int, connect_port: int, postgres_port: int | None) -> None:
        base = f"http://{host}:{api_port}"
        console.print(f"REST API     {base}  (OpenAPI docs {base}/docs)", highlight=False)
        # a key generated for this run is printed anyway: the dashboard's address is ready to open
        console.print(f"Dashboard    {base}/dashboard?key={keys[0] if generated else '<key>'}", highlight=False,
                      soft_wrap=True)
        # stock PySpark sends a token in plaintext only to `localhost` (gRPC local credentials)
        sql_host = "localhost" if tls is None else socket.getfqdn() if host in ("0.0.0.0", "::") else host
        console.print(f"Spark SQL    sc://{sql_host}:{connect_port}/;{'use_ssl=true;' if tls else ''}token=<key>",
                      highlight=False)
        if tls is not None and tls.ca is not None:
            console.print(f"             CA certificate {tls.ca} (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH={tls.ca})",
                          highlight=False)
        if postgres_port is not None:
            tls_mode = "require" if serving.pg_tls_cert else "disable"
            console.print(f"PostgreSQL   postgresql://{host}:{postgres_port}/lakehouse?sslmode={tls_mode}  "
                          "(any user, password <key>)", highlight=False)
        if generated:
            console.print(f"No LAKEHOUSE_API_KEYS set: this run's key is {keys[0]}", highlight=False)
        console.print("Ctrl-C to stop", highlight=False)

    try:
        run_server(config, host, port if port is not None else serving.port,
                   sql_port if sql_port is not None else serving.sql_port, keys, routers=_ml_routers(config),
                   on_ready=ready, pg_port=pg_port)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot listen: {exc}")
        raise typer.Exit(2) from None
