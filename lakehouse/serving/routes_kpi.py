"""KPI endpoints: each rolls up the pre-aggregates of one KPI of `kpis.py`, cached by table versions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from lakehouse.serving import kpis
from lakehouse.serving.errors import error_responses
from lakehouse.serving.services import Services

router = APIRouter(prefix="/kpi", tags=["kpi"], responses=error_responses(503))  # every route reads the lake
FAR_PAST, FAR_FUTURE = dt.date(1900, 1, 1), dt.date(9999, 12, 31)
Start = Annotated[dt.date | None, Query(description="First day (inclusive); default: no lower bound.")]
End = Annotated[dt.date | None, Query(description="Last day (inclusive); default: no upper bound.")]
Countries = Annotated[list[str] | None, Query(alias="country", description="ISO alpha-2; repeat for several.")]


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _filters(start: dt.date | None, end: dt.date | None, countries: list[str] | None) -> kpis.Filters:
    try:
        return kpis.Filters(start or FAR_PAST, end or FAR_FUTURE, tuple(c.upper() for c in countries or ()))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


async def _answer(request: Request, measure: kpis.Kpi, filters: kpis.Filters | None = None, **meta: Any) -> Response:
    """`measure` rolled up for `filters`: its pre-aggregates are made once per table version (in a
    worker thread), then each request is array work on the event loop."""
    svc = _services(request)
    versions = svc.store.versions(measure.tables)
    missing = [t for t, v in versions if v is None]
    if missing:
        raise HTTPException(404, f"table {missing[0]} does not exist yet: run the pipeline")
    pinned = dict(versions)
    frames = svc.cached_frames(measure, pinned)
    if frames is None:
        frames = await run_in_threadpool(svc.kpi_frames, measure, pinned)
    chosen = filters or kpis.Filters(FAR_PAST, FAR_FUTURE)

    def build(versions: dict[str, int | None]) -> dict[str, Any]:
        return {**meta, "rows": measure.answer(frames, chosen), "versions": versions}

    return await svc.respond(request, measure.tables, build, fixed=True, versions=versions, inline=True)


@router.get("/revenue", responses=error_responses(400, 404))
async def revenue(
    request: Request, start: Start = None, end: End = None, countries: Countries = None,
    by: Annotated[str, Query(pattern="^(order_date|country|category)$")] = "order_date",
) -> Response:
    """Revenue (EUR) and units per day, country or category over a date range."""
    return await _answer(request, kpis.revenue_by(by), _filters(start, end, countries), kpi="revenue", by=by)


@router.get("/average-order-value", responses=error_responses(400, 404))
async def average_order_value(
    request: Request, start: Start = None, end: End = None, countries: Countries = None
) -> Response:
    """Per day: revenue, distinct orders and average order value (EUR)."""
    return await _answer(request, kpis.AVERAGE_ORDER_VALUE, _filters(start, end, countries), kpi="average_order_value")


@router.get("/funnel", responses=error_responses(400, 404))
async def funnel(request: Request, start: Start = None, end: End = None) -> Response:
    """Sessions at each funnel step over the range, and step-to-step conversion."""
    return await _answer(request, kpis.FUNNEL_CONVERSION, _filters(start, end, None), kpi="funnel")


@router.get("/cold-chain", responses=error_responses(400, 404))
async def cold_chain(request: Request, start: Start = None, end: End = None) -> Response:
    """Cold-chain excursions, minutes above the limit and peak temperature per device."""
    return await _answer(request, kpis.COLD_CHAIN_EXCURSIONS, _filters(start, end, None), kpi="cold_chain")


@router.get("/actual-vs-target", responses=error_responses(400, 404))
async def actual_vs_target(
    request: Request, start: Start = None, end: End = None, countries: Countries = None
) -> Response:
    """Revenue against the sales target per country and month."""
    return await _answer(request, kpis.ACTUAL_VS_TARGET, _filters(start, end, countries), kpi="actual_vs_target")


async def _optional(request: Request, measure: kpis.Kpi, table: str, name: str) -> Response:
    svc = _services(request)
    if svc.store.version(table) is None:
        return await svc.respond(request, [table], lambda v: {"kpi": name, "available": False, "rows": []}, fixed=True)
    return await _answer(request, measure, kpi=name, available=True)


@router.get("/churn-risk")
async def churn_risk(request: Request) -> Response:
    """Customers per churn-probability bucket; `available` is false until scores exist."""
    return await _optional(request, kpis.CHURN_DISTRIBUTION, kpis.CHURN_TABLE, "churn_risk")


@router.get("/model-monitoring")
async def model_monitoring(request: Request) -> Response:
    """Rows of the model monitoring table; `available` is false until it exists."""
    return await _optional(request, kpis.MODEL_MONITORING, kpis.MONITORING_TABLE, "model_monitoring")


@router.get("/date-range", responses=error_responses(404))
async def date_range(request: Request) -> Response:
    """First and last order date in gold.daily_sales, and its countries (the dashboard's default filter)."""
    return await _answer(request, kpis.SALES_DATE_RANGE, kpi="date_range")
