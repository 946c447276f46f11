"""API keys: bearer tokens from `LAKEHOUSE_API_KEYS`, checked on every endpoint but /health.

A browser cannot add a header to a page load, so the dashboard takes the key once as
`/dashboard?key=...` (or `/docs?key=...`), turns it into an HttpOnly same-site cookie and redirects to the bare URL;
the cookie is accepted wherever the header is.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping, Sequence

from fastapi import HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response

KEYS_VARIABLE = "LAKEHOUSE_API_KEYS"
COOKIE = "lakehouse_key"
KEY_IN_URL = ("/dashboard", "/docs")  # pages a browser opens; they turn `?key=` into the cookie


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
    def _dashboard_key(request: Request) -> str:
        # only the dashboard page takes the key in its URL, to set the cookie once
        return request.query_params.get("key", "") if request.url.path in KEY_IN_URL else ""

    async def __call__(self, request: Request) -> None:  # async: no thread hop per request
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if header and scheme.lower() != "bearer":
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "use Authorization: Bearer <key>",
                                headers={"WWW-Authenticate": "Bearer"})
        token = token.strip() or request.cookies.get(COOKIE, "") or self._dashboard_key(request)
        if not token:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key: send Authorization: Bearer <key>",
                                headers={"WWW-Authenticate": "Bearer"})
        if not self.valid(token):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "API key not accepted")


def key_cookie_redirect(path: str, key: str, request: Request) -> Response:
    """Keep an accepted key in an HttpOnly same-site cookie and drop it from the address bar."""
    response = RedirectResponse(path, status_code=303)
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
