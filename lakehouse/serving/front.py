"""`CacheFront`: replays a cached answer before FastAPI routes and validates the request.

On a cache hit FastAPI's routing, dependency injection and query validation cost several times
what looking up the answer does. This ASGI middleware sits in front of them: a `GET` with a valid
bearer key whose exact path and query string `Services.respond` answered before (for a route
whose tables the request alone decides, see `fixed`) is answered from the cache, provided every
table it read is still at the version it read. Anything else (no or wrong key, a cookie, a new
version, a request never seen) goes on to the application, which answers it and its errors.
"""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from lakehouse.files import StorageError, error_line
from lakehouse.serving.cache import CACHE_CONTROL, CachedBody, ResponseCache, etags_in
from lakehouse.serving.errors import store_unavailable
from lakehouse.serving.security import KeyChecker
from lakehouse.serving.tables import TableStore

log = logging.getLogger(__name__)


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


class CacheFront:
    def __init__(self, app: ASGIApp, cache: ResponseCache, store: TableStore, keys: KeyChecker) -> None:
        self.app, self.cache, self.store, self.keys = app, cache, store, keys

    def _hit(self, scope: Scope) -> CachedBody | Response | None:
        scheme, _, token = _header(scope, b"authorization").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not self.keys.valid(token.strip()):
            return None
        found = self.cache.recall(scope["path"], scope["query_string"])
        if found is None:
            return None
        versions, entry = found
        try:
            current = self.store.versions(t for t, _ in versions)
        except (StorageError, OSError) as exc:  # outside FastAPI's handlers: answer as they would
            log.warning("%s answered 503: the lake cannot be read: %s", scope["path"],
                        error_line(exc, self.store.lake_dir))
            return store_unavailable()
        if current != versions:
            return None
        self.cache.hits += 1
        return entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self._hit(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if entry is None:
            await self.app(scope, receive, send)
            return
        if isinstance(entry, Response):
            await entry(scope, receive, send)
            return
        headers = [(b"etag", entry.etag.encode()), (b"x-cache", b"hit"), (b"cache-control", CACHE_CONTROL.encode())]
        if entry.etag in etags_in(_header(scope, b"if-none-match").decode("latin-1")):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(entry.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": entry.body})
