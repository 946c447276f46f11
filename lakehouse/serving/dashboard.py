"""The KPI dashboard: one HTML page, its script, and plotly.js from the installed `plotly` package.

Nothing is loaded from a CDN, so the page works offline. The page reads the KPI endpoints with
the browser's key cookie (set from `/dashboard?key=...`, then redirected to the bare URL).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from lakehouse.serving.security import key_cookie_redirect

router = APIRouter(tags=["dashboard"])
STATIC = Path(__file__).parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


def plotly_js() -> Path:
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise HTTPException(500, "plotly.min.js is missing from the installed plotly package")
    return path


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    """The KPI dashboard. Open `/dashboard?key=<key>` once; the key is kept in a cookie."""
    key = request.query_params.get("key")
    if key:
        return key_cookie_redirect("/dashboard", key, request)
    return HTMLResponse((STATIC / "dashboard.html").read_text(), headers={"Cache-Control": "no-store"})


@router.get("/static/plotly.min.js", include_in_schema=False)
def plotly_asset() -> FileResponse:
    return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.get("/static/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"no asset '{name}'")
    return FileResponse(STATIC / name, media_type=ASSETS[name])
