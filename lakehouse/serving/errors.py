"""The error answers of the REST API, as its OpenAPI document lists them for each route.

Every error is `{"detail": "<why>"}`. The key check (401, 403) answers on every route but
`/health`; the body cap (413) on routes that take a body; a store outage (503) on every route that
reads the lake; the others where a route raises them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

WHY = {
    400: "Bad request: a filter, cursor or parameter that cannot be used, or SQL that was refused or failed",
    401: "No API key: send `Authorization: Bearer <key>`",
    403: "The API key is not accepted",
    404: "No such table, or it does not exist yet (run the pipeline), or it is not served",
    413: "The request body is over `serving.max_body_bytes`",
    429: "Too many queries at once (`serving.max_concurrent_queries`): retry after `Retry-After` seconds",
    501: "Not served by this installation: the route needs an extra that is not installed (the detail names it)",
    503: "Not ready: the SQL engine is starting or restarting, no model is trained, or the lake's storage "
         "cannot be read now (an object store that is down); retry after `Retry-After` seconds",
    504: "The query ran over `serving.sql_timeout_seconds` and was cancelled",
}


STORE_UNAVAILABLE = "the lake's storage cannot be read now; retry later"
STORE_RETRY_SECONDS = 10


def store_unavailable() -> JSONResponse:
    """The 503 for a lake whose storage cannot be read (a store outage), in the shape of every
    error: a short reason that names neither an endpoint nor a key (the log line does, without keys)."""
    return JSONResponse({"detail": STORE_UNAVAILABLE}, status_code=503,
                        headers={"Retry-After": str(STORE_RETRY_SECONDS), "Cache-Control": "no-store"})


class ErrorBody(BaseModel):
    detail: str = Field(description="Why the request was not answered.")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each code with its meaning and the error body."""
    return {code: {"model": ErrorBody, "description": WHY[code]} for code in codes}
