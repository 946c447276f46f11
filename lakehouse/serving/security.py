"""API keys: bearer tokens from `LAKEHOUSE_API_KEYS`, checked on every endpoint but /health.

A browser cannot add a header to a page load, so the dashboard takes the key once as
`/dashboard?key=...` (or `/docs?key=...`), turns it into an HttpOnly same-site cookie and redirects to the bare URL;
the cookie is accepted wherever the header is.

`RequestGuard` checks the key from the request's head, before a byte of its body is read, and
caps the body's size: a request without a valid key is answered 401/403 whatever it sends after
its headers, and a body over `serving.max_body_bytes` 413 as soon as it is known to be too big.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping, Sequence

import orjson
from fastapi import HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KEYS_VARIABLE = "LAKEHOUSE_API_KEYS"
COOKIE = "lakehouse_key"
KEY_IN_URL = ("/dashboard", "/docs")  # pages a browser opens; they turn `?key=` into the cookie
OPEN_PATHS = frozenset({"/health"})


class UnsafeBinding(RuntimeError):
    """The server would listen beyond this machine without API keys."""


def keys_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    raw = (os.environ if environ is None else environ).get(KEYS_VARIABLE, "")
    return tuple(k.strip() for k in raw.split(",") if k.strip())


def is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_keys(host: str, configured: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """The keys to accept and whether one was generated (localhost without keys only)."""
    if configured:
        return tuple(configured), False
    if not is_local(host):
        raise UnsafeBinding(f"refusing to listen on {host} without API keys: set {KEYS_VARIABLE}")
    return (secrets.token_urlsafe(24),), True


class KeyChecker:
    """FastAPI dependency: 401 without a key, 403 for a key that is not one of ours."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one API key is needed")
        self._keys = [k.encode() for k in keys]

    def valid(self, presented: str) -> bool:
        given = presented.encode()
        # compare against every key so the time taken does not depend on which one matched
        return any([hmac.compare_digest(given, key) for key in self._keys])

    @staticmethod
    def _dashboard_key(connection: HTTPConnection) -> str:
        # only the dashboard page takes the key in its URL, to set the cookie once
        return connection.query_params.get("key", "") if connection.url.path in KEY_IN_URL else ""

    def refusal(self, connection: HTTPConnection) -> HTTPException | None:
        """Why the request's head (headers, cookie, dashboard URL) does not carry a valid key, or None."""
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if header and scheme.lower() != "bearer":
            return HTTPException(status.HTTP_401_UNAUTHORIZED, "use Authorization: Bearer <key>",
                                 headers={"WWW-Authenticate": "Bearer"})
        token = token.strip() or connection.cookies.get(COOKIE, "") or self._dashboard_key(connection)
        if not token:
            return HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key: send Authorization: Bearer <key>",
                                 headers={"WWW-Authenticate": "Bearer"})
        if not self.valid(token):
            return HTTPException(status.HTTP_403_FORBIDDEN, "API key not accepted")
        return None

    async def __call__(self, request: Request) -> None:  # async: no thread hop per request
        refused = self.refusal(request)
        if refused is not None:
            raise refused


async def _answer(send: Send, code: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
    body = orjson.dumps({"detail": detail})
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
    await send({"type": "http.response.start", "status": code, "headers": head})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """The body grew over the limit."""


class _Disconnected(Exception):
    """The client left before sending its whole body."""


class RequestGuard:
    """Pure ASGI middleware in front of the application: the key first, then the body's size.

    The key is checked on the request's head, so a request without one is refused before its
    body is read (uvicorn reads a body only when the application asks for it, and answers
    `Expect: 100-continue` only then). An accepted request's body is read here, up to
    `max_body` bytes: a declared `Content-Length` over it, or a chunked body that grows over it,
    is answered 413 at once, without reading the rest."""

    def __init__(self, app: ASGIApp, keys: KeyChecker, max_body: int) -> None:
        self.app, self.keys, self.max_body = app, keys, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        refused = self.keys.refusal(HTTPConnection(scope))
        if refused is not None:
            await _answer(send, refused.status_code, str(refused.detail), refused.headers)
            return
        too_big = f"request body over {self.max_body} bytes (serving.max_body_bytes)"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _answer(send, 413 if declared.isdigit() else 400,
                          too_big if declared.isdigit() else "Content-Length is not a number")
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and declared is None \
                and b"chunked" not in dict(scope["headers"]).get(b"transfer-encoding", b""):
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except BodyTooLarge:
            await _answer(send, 413, too_big)
            return
        except _Disconnected:
            return
        await self.app(scope, self._replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # waits for the disconnect, as the server's own receive does

        return replay


def key_cookie_redirect(path: str, key: str, request: Request) -> Response:
    """Keep an accepted key in an HttpOnly same-site cookie and drop it from the address bar."""
    response = RedirectResponse(path, status_code=303)
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
