"""Responses cached by request and by the Delta versions of the tables they read.

A key holds the versions, so a new commit to any table a response read makes a new key: stale
entries are never served, they just age out of the LRU. The ETag is a hash of the body.

Answers whose tables are fixed by the request alone are also indexed by the raw request line
(`remember` / `recall`), so `front.CacheFront` can answer them before routing and validation.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Hashable
from dataclasses import dataclass

from cachetools import LRUCache


@dataclass(frozen=True)
class CachedBody:
    body: bytes
    etag: str


Versions = tuple[tuple[str, int | None], ...]
CACHE_CONTROL = "private, no-cache"  # clients may keep an answer, and revalidate it with its ETag


def etags_in(header: str | None) -> set[str]:
    """The entity tags of an `If-None-Match` header (weak ones compare as strong)."""
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def make_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class ResponseCache:
    def __init__(self, entries: int) -> None:
        self._entries: LRUCache[Hashable, CachedBody] | None = LRUCache(maxsize=entries) if entries else None
        self._raw: LRUCache[tuple[str, bytes], tuple[Versions, CachedBody]] | None = (
            LRUCache(maxsize=entries) if entries else None)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> CachedBody | None:
        """The cached body for `key`, if any (counted as a hit or a miss)."""
        found = None
        if self._entries is not None:
            with self._lock:
                found = self._entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: Hashable, body: bytes) -> CachedBody:
        """Keep `body` under `key` (nothing is kept when the cache has no entries)."""
        entry = CachedBody(body, make_etag(body))
        if self._entries is not None:
            with self._lock:
                self._entries[key] = entry
        return entry

    def remember(self, path: str, query_string: bytes, versions: Versions, entry: CachedBody) -> None:
        """Index `entry` by the raw request line, valid while the tables stay at `versions`."""
        if self._raw is not None:
            with self._lock:
                self._raw[(path, query_string)] = (versions, entry)

    def recall(self, path: str, query_string: bytes) -> tuple[Versions, CachedBody] | None:
        """What `remember` kept for this request line (the caller checks the versions)."""
        if self._raw is None:
            return None
        with self._lock:
            return self._raw.get((path, query_string))
