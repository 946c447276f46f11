"""Table endpoints (`/tables`, `/tables/{layer}.{name}`) and read-only SQL (`POST /sql`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lakehouse.catalog import closest_tables
from lakehouse.serving.errors import error_responses
from lakehouse.serving.query_server import EngineUnavailable
from lakehouse.serving.services import Services
from lakehouse.serving.sql_guard import QueryRejected, check_query
from lakehouse.serving.sql_runner import QueryBusy, QueryTimeout
from lakehouse.storage import LAYERS

log = logging.getLogger(__name__)
router = APIRouter(responses=error_responses(503))  # every route reads the lake
OPERATORS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
RESERVED = {"order_by", "limit", "cursor"}


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@router.get("/tables", tags=["tables"])
async def list_tables(request: Request) -> Response:
    """Every table: name, rows, Delta version, last change (UTC)."""
    svc = services(request)
    tables = svc.store.tables()
    return await svc.respond(request, tables, lambda versions: {"tables": [svc.store.info(t) for t in tables]})


def _filters(request: Request, columns: dict[str, str]) -> tuple[list[str], list[str]]:
    """`col=v`, `col__gte=v`, `col__in=a,b` query parameters as DuckDB predicates and parameters."""
    clauses, params = [], []
    for name, value in request.query_params.multi_items():
        if name in RESERVED:
            continue
        column, _, op = name.partition("__")
        op = op or "eq"
        if column not in columns:
            raise HTTPException(400, f"unknown column '{column}' (columns: {', '.join(columns)})")
        cast = f"CAST(? AS {columns[column]})"
        if op == "in":
            values = value.split(",")
            clauses.append(f'"{column}" IN ({", ".join([cast] * len(values))})')
            params += values
        elif op in OPERATORS:
            clauses.append(f'"{column}" {OPERATORS[op]} {cast}')
            params.append(value)
        else:
            raise HTTPException(400, f"unknown operator '{op}' (use {', '.join([*OPERATORS, 'in'])})")
    return clauses, params


def _ordering(order_by: str | None, columns: dict[str, str]) -> str:
    """`a,-b` as ORDER BY, with every other column after it so pages never overlap."""
    terms, used = [], set()
    for raw in [t.strip() for t in (order_by or "").split(",") if t.strip()]:
        column = raw.lstrip("-")
        if column not in columns:
            raise HTTPException(400, f"cannot order by unknown column '{column}'")
        terms.append(f'"{column}" {"DESC" if raw.startswith("-") else "ASC"} NULLS LAST')
        used.add(column)
    terms += [f'"{c}" ASC NULLS LAST' for c in columns if c not in used]
    return ", ".join(terms)


def _not_served(svc: Services, table: str) -> str:
    """Why `table` is not served: hidden (and how to serve it), not gold, or no such table (and the
    closest served ones)."""
    served = svc.store.gold_tables()
    layer, _, name = table.partition(".")
    exists = layer in LAYERS and name.isidentifier() and svc.store.version(table) is not None
    if exists and table in svc.store.hidden:
        return (
            f"table {table} exists but is not served: serving.hidden_tables lists it (tables holding personal "
            "data are kept off the API and the SQL endpoints). To serve it, remove it from serving.hidden_tables in "
            "conf/<env>.yaml (or set LAKEHOUSE_SERVING__HIDDEN_TABLES='[]') and restart `lakehouse serve`"
        )
    if exists:
        return f"table {table} exists but is not served: the API serves gold tables only"
    close = closest_tables(table, served)
    return f"no gold table '{table}'" + (f"; did you mean {' or '.join(close)}?" if close else "")


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def _decode_cursor(cursor: str, fingerprint: str) -> dict[str, Any]:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        valid = (isinstance(state, dict) and type(state.get("v")) is int and type(state.get("o")) is int
                 and 0 <= state["v"] < 2**62 and 0 <= state["o"] < 2**62)
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise HTTPException(400, "cursor is not valid: use next_cursor from the previous page")
    if state.get("q") != fingerprint:
        raise HTTPException(400, "cursor belongs to a request with other filters or ordering")
    return dict(state)


@router.get("/tables/{table}", tags=["tables"], responses=error_responses(400, 404))
async def read_table(
    request: Request,
    table: str,
    order_by: Annotated[str | None, Query(description="Columns, comma-separated; '-col' descending.")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Rows per page.")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> Response:
    """Rows of a gold table. Filters: `col=v`, `col__gt|gte|lt|lte|ne=v`, `col__in=a,b`.

    Pages are read from the table version of the first page, so a new commit between pages
    neither repeats nor skips rows; `next_cursor` is null on the last page.
    """
    svc = services(request)
    if not table.startswith("gold.") or table not in svc.store.gold_tables():
        raise HTTPException(404, _not_served(svc, table))
    size = min(limit or svc.config.serving.page_size, svc.config.serving.max_page_size)
    filter_items = sorted((k, v) for k, v in request.query_params.multi_items() if k not in RESERVED)
    fingerprint = hashlib.sha1(orjson.dumps([table, order_by, filter_items])).hexdigest()[:16]
    state = _decode_cursor(cursor, fingerprint) if cursor else None
    if state and state["v"] > (svc.store.version(table) or 0):  # made up: no such version was ever served
        raise HTTPException(400, "cursor is not valid: use next_cursor from the previous page")

    def build(versions: dict[str, int | None]) -> dict[str, Any]:
        version = state["v"] if state else versions[table]
        offset = state["o"] if state else 0
        page = _page(svc, table, version, order_by, size, offset, request)
        more = page.num_rows > size
        next_cursor = _encode_cursor({"v": version, "o": offset + size, "q": fingerprint}) if more else None
        return {"table": table, "version": version, "rows": page.slice(0, size).to_pylist(), "next_cursor": next_cursor}

    return await svc.respond(request, [table], build, fixed=True)


def _page(svc: Services, table: str, version: int | None, order_by: str | None, size: int, offset: int,
          request: Request):  # noqa: ANN202 - a pyarrow.Table
    snapshot = svc.store.snapshot(table, version)
    cursor = svc.fast.connection()
    try:
        cursor.register("t", snapshot)
        columns = {name: str(kind) for name, kind, *_ in cursor.sql("DESCRIBE SELECT * FROM t").fetchall()}
        clauses, params = _filters(request, columns)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM t {where} ORDER BY {_ordering(order_by, columns)} LIMIT {size + 1} OFFSET {offset}"
        try:
            return cursor.sql(sql, params=params).to_arrow_table()
        except Exception as exc:  # a value that does not cast to the column's type
            raise HTTPException(400, f"bad filter value: {str(exc).splitlines()[0]}") from None
    finally:
        cursor.close()


class SqlRequest(BaseModel):
    query: str = Field(description="One Spark SQL SELECT over gold tables (gold.<table>).", max_length=20_000)


@router.post("/sql", tags=["sql"], responses=error_responses(400, 413, 429, 503, 504))
async def run_sql(request: Request, body: SqlRequest) -> Response:
    """Run one read-only SELECT over gold tables, capped at `serving.row_limit` rows and timed out."""
    svc = services(request)
    try:
        # parsing a statement of up to 20 000 characters must not hold up the event loop
        checked = await run_in_threadpool(check_query, body.query, svc.store.gold_tables())
    except QueryRejected as exc:
        log.info("sql rejected: %s", exc)  # the reason names tables and keywords, never values
        raise HTTPException(400, f"query rejected: {exc}") from None
    serving = svc.config.serving

    def build(versions: dict[str, int | None]) -> dict[str, Any]:
        # Log lines name the kind of failure only: the engine's messages quote the query's values.
        try:
            result = svc.sql_runner.run(checked.sql, versions, serving.row_limit, serving.sql_timeout_seconds)
        except QueryTimeout as exc:
            log.warning("sql query cancelled at the time limit (%g s)", serving.sql_timeout_seconds)
            raise HTTPException(504, str(exc)) from None
        except QueryBusy as exc:
            log.warning("sql query refused: %d queries run already", serving.max_concurrent_queries)
            raise HTTPException(429, str(exc), headers={"Retry-After": "5"}) from None
        except EngineUnavailable as exc:
            log.warning("sql query not run: %s", exc)
            raise HTTPException(503, str(exc), headers={"Retry-After": "10"}) from None
        except HTTPException:
            raise
        except Exception as exc:
            log.warning("sql query failed: %s", type(exc).__name__)
            log.debug("sql query failed: %s", exc)
            raise HTTPException(400, f"query failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
        return {"columns": result.columns, "rows": result.rows, "truncated": result.truncated,
                "row_limit": serving.row_limit, "versions": versions}

    return await svc.respond(request, checked.tables, build, extra_key=checked.sql)
