"""The REST API: `create_app(config, api_keys=..., ...)` builds the FastAPI application.

Every endpoint but `/health` needs a key (see `security.py`). Responses that read tables go
through `Services.respond`, which keys the cache on the request and the Delta versions read and
answers `If-None-Match` with 304. Request logs carry method, path, status and time only: never a
query string, a body or a result, which may hold personal data.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lakehouse.config import Config
from lakehouse.files import StorageError, error_line
from lakehouse.serving.cache import CACHE_CONTROL, ResponseCache, etags_in
from lakehouse.serving.errors import error_responses, store_unavailable
from lakehouse.serving.fastsql import FastSql
from lakehouse.serving.front import CacheFront
from lakehouse.serving.kpis import Base, Kpi
from lakehouse.serving.rollup import Frame, Frames
from lakehouse.serving.security import KeyChecker, RequestGuard, key_cookie_redirect
from lakehouse.serving.sql_runner import FastSqlRunner, SqlRunner
from lakehouse.serving.tables import TableStore

log = logging.getLogger(__name__)
access_log = logging.getLogger("lakehouse.serving.access")


def _json_default(value: Any) -> Any:
    """Decimals (money) as JSON numbers with their own digits (`196599.98`, `12.50`), never
    through a float; anything else orjson cannot write as its text."""
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    return str(value)


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclass
class Services:
    """What the routes share: config, tables, the fast query path, KPI frames, the cache and the SQL runner."""

    config: Config
    store: TableStore
    fast: FastSql
    cache: ResponseCache
    sql_runner: SqlRunner
    frames: Frames

    def cached_frames(self, kpi: Kpi, versions: Mapping[str, int | None]) -> dict[str, Frame] | None:
        """The pre-aggregates of `kpi` at `versions` if every one is made already (array work only,
        fit for the event loop), else None."""
        frames = {}
        for base in kpi.bases:
            frame = self.frames.get((base.sql, versions[base.table]))
            if frame is None:
                return None
            frames[base.name] = frame
        return frames

    def kpi_frames(self, kpi: Kpi, versions: Mapping[str, int | None]) -> dict[str, Frame]:
        """The pre-aggregates of `kpi` at `versions`, made from their SQL when missing (this reads
        tables: call it from a worker thread)."""
        return {
            base.name: self.frames.build((base.sql, versions[base.table]),
                                         functools.partial(self._make_frame, base, {base.table: versions[base.table]}))
            for base in kpi.bases
        }

    def _make_frame(self, base: Base, versions: Mapping[str, int | None]) -> Frame:
        return base.frame(self.fast.query(base.sql, versions))

    async def respond(
        self, request: Request, tables: Iterable[str], build: Callable[[dict[str, int | None]], Any],
        extra_key: Any = None, fixed: bool = False,
        versions: tuple[tuple[str, int | None], ...] | None = None, inline: bool = False,
    ) -> Response:
        """JSON of `build(versions)`, cached by request and the versions of `tables`.

        A hit is answered on the event loop; a miss runs `build` in a worker thread (a thread
        hop per request costs more than answering from the cache does), or on the loop when
        `inline` says it is array work of well under a millisecond. `versions` pins what the
        caller already read. `fixed` says the GET's path and query alone decide `tables` and the
        answer, so `CacheFront` may replay it."""
        versions = versions if versions is not None else self.store.versions(tables)
        query = tuple(sorted(request.query_params.multi_items()))
        key = (request.method, request.url.path, query, extra_key, versions)
        entry = self.cache.get(key)
        hit = entry is not None
        if entry is None:
            pinned = dict(versions)
            body = dumps(build(pinned)) if inline else await run_in_threadpool(lambda: dumps(build(pinned)))
            entry = self.cache.put(key, body)
        if fixed and extra_key is None and request.method == "GET":
            self.cache.remember(request.scope["path"], request.scope["query_string"], versions, entry)
        headers = {"ETag": entry.etag, "X-Cache": "hit" if hit else "miss", "Cache-Control": CACHE_CONTROL}
        if entry.etag in etags_in(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=headers)
        return Response(entry.body, media_type="application/json", headers=headers)


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
    from lakehouse.serving import dashboard, routes_data, routes_kpi

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
