"""The REST API: `create_app(config, api_keys=..., ...)` builds the FastAPI application.

Every endpoint but `/health` needs a key (see `security.py`). Responses that read tables go
through `Services.respond` (`services.py`), which keys the cache on the request and the Delta versions read and
answers `If-None-Match` with 304. Request logs carry method, path, status and time only: never a
query string, a body or a result, which may hold personal data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakehouse.config import Config
from lakehouse.files import StorageError, error_line
from lakehouse.serving import dashboard, routes_data, routes_kpi
from lakehouse.serving.cache import ResponseCache
from lakehouse.serving.errors import error_responses, store_unavailable
from lakehouse.serving.fastsql import FastSql
from lakehouse.serving.front import CacheFront
from lakehouse.serving.rollup import Frames
from lakehouse.serving.security import KeyChecker, RequestGuard, key_cookie_redirect
from lakehouse.serving.services import Services
from lakehouse.serving.sql_runner import FastSqlRunner, SqlRunner
from lakehouse.serving.tables import TableStore

log = logging.getLogger(__name__)
access_log = logging.getLogger("lakehouse.serving.access")


class AccessLog:
    """Pure ASGI middleware: one log line per request with method, path, status and time.

    Starlette's `BaseHTTPMiddleware` (`@app.middleware`) runs every request through an extra task
    and memory streams, which costs more than a cached answer does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            # the path as sent, control characters escaped: a %0A in it cannot start a line of its own
            path = scope["path"].encode("unicode_escape", "backslashreplace").decode("ascii")
            access_log.info("%s %s %s %.1fms", scope["method"], path, status, elapsed_ms)


# Swagger UI's script, style sheet and icon, from the installed `fastapi-offline` package: /docs
# loads nothing from another host (FastAPI's default page takes them from a CDN).
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}


def docs_asset(name: str) -> Path:
    path = Path(str(resources.files("fastapi_offline") / "static" / name))
    if not path.is_file():
        raise HTTPException(500, f"{name} is missing from the installed fastapi-offline package")
    return path


def _docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    def docs(request: Request) -> Response:
        """Swagger UI; `/docs?key=...` keeps the key in a cookie, as the dashboard does."""
        key = request.query_params.get("key")
        if key:
            return key_cookie_redirect("/docs", key, request)
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="lakehouse API", swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css", swagger_favicon_url="/docs/favicon.png",
            # no validator badge: Swagger UI would ask validator.swagger.io about the document
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get("/docs/{name}")
    def asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:
            raise HTTPException(404, f"no asset '{name}'")
        return FileResponse(docs_asset(name), media_type=DOCS_ASSETS[name], headers={"Cache-Control": "max-age=86400"})

    return router


def create_app(
    config: Config,
    *,
    api_keys: Sequence[str],
    sql_runner: SqlRunner | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The API over `config.lake`; `routers` are mounted behind the same key check."""
    serving = config.serving
    store = TableStore(config.lake, hidden=serving.hidden_tables)
    fast = FastSql(store)
    services = Services(config, store, fast, ResponseCache(serving.cache_entries), sql_runner or FastSqlRunner(fast),
                        Frames())
    app = FastAPI(
        title="lakehouse API",
        description="Gold tables, KPIs and read-only SQL over the lakehouse. Send `Authorization: Bearer <key>`.",
        version="1.0",
        docs_url=None,  # served below, behind the key like everything but /health
        openapi_url=None,
    )
    app.state.services = services
    checker = KeyChecker(api_keys)
    app.add_middleware(CacheFront, cache=services.cache, store=store, keys=checker)
    # the key and the body's size are checked before the body is read or anything is routed
    app.add_middleware(RequestGuard, keys=checker, max_body=serving.max_body_bytes)
    app.add_middleware(AccessLog)  # added last, so outermost: it logs what the guard and cache front answer too

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422 without the `input` (and `ctx`) it echoes: what was sent is never sent back."""
        errors = [{"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StorageError)
    @app.exception_handler(OSError)  # delta-rs reports a store it cannot reach as an OSError
    async def store_down(request: Request, exc: Exception) -> JSONResponse:
        """A lake whose storage cannot be read (the object store stopped, a disk gone): 503 in the
        shape of every error; the request after the store is back is answered as usual."""
        log.warning("%s %s answered 503: the lake cannot be read: %s", request.method, request.url.path,
                    error_line(exc, config.lake))
        return store_unavailable()

    @app.get("/health", tags=["meta"])
    async def health() -> JSONResponse:  # on the event loop: answered whatever the worker threads do
        """Liveness, with no key needed and nothing about the data."""
        return JSONResponse({"status": "ok"})

    protected = [Depends(checker)]
    for router in (routes_data.router, routes_kpi.router, dashboard.router, _docs_router(app), *routers):
        app.include_router(router, dependencies=protected, responses=error_responses(401, 403))
    return app
