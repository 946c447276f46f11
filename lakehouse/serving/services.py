"""What the REST API's routes share (`Services`, one per app, at `app.state.services`) and how they
write JSON. The routes (`routes_data`, `routes_kpi`) and the app that mounts them (`app`) import it;
it imports neither."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from lakehouse.config import Config
from lakehouse.serving.cache import CACHE_CONTROL, ResponseCache, etags_in
from lakehouse.serving.fastsql import FastSql
from lakehouse.serving.kpis import Base, Kpi
from lakehouse.serving.rollup import Frame, Frames
from lakehouse.serving.sql_runner import SqlRunner
from lakehouse.serving.tables import TableStore


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
