"""The REST API's documentation: `/docs` works offline (Swagger UI's assets come from this server),
the OpenAPI document lists the error answers each route gives, and a hidden gold table says that
it exists and how to serve it. The app runs in-process over a small lake written with delta-rs:
no engine is involved, so both passes run the same test."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pytest
import uvicorn
from deltalake import write_deltalake
from starlette.testclient import TestClient

from lakehouse.config import Config, load_config
from lakehouse.daemons import free_port
from lakehouse.serving.app import create_app
from lakehouse.serving.query_server import EngineUnavailable
from lakehouse.serving.sql_runner import QueryBusy, QueryTimeout, SqlResult

pytestmark = pytest.mark.integration
KEY = "docs-key"
CHROMIUM = Path("/usr/bin/chromium")


def _small_lake(data_dir: Path) -> None:
    lake = data_dir / "lake"
    write_deltalake(
        str(lake / "gold" / "daily_sales"),
        pa.table(
            {
                "order_date": pa.array([dt.date(2026, 1, 1), dt.date(2026, 1, 2)], pa.date32()),
                "country": ["DE", "FR"],
                "category": ["dairy", "fruit"],
                "orders": pa.array([2, 1], pa.int64()),
                "units": pa.array([3, 1], pa.int64()),
                "revenue_eur": pa.array([Decimal("20.00"), Decimal("4.50")], pa.decimal128(18, 2)),
                "avg_order_value_eur": pa.array([Decimal("10.00"), Decimal("4.50")], pa.decimal128(18, 2)),
            }
        ),
    )
    write_deltalake(
        str(lake / "gold" / "customer_segments"),
        pa.table(
            {
                "customer_id": pa.array([7], pa.int64()),
                "email": ["ada@example.com"],
                "segment": ["vip"],
            }
        ),
    )
    write_deltalake(str(lake / "silver" / "orders"), pa.table({"order_id": pa.array([1], pa.int64())}))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    data_dir = tmp_path_factory.mktemp("api-docs")
    _small_lake(data_dir)
    return load_config("test", overrides={"data_dir": str(data_dir), "serving.max_body_bytes": 2048}, environ={})


class FailingRunner:
    """A SQL runner that fails as the engine's runner does when it is busy, slow or restarting."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self, sql: str, versions: Any, limit: int, timeout: float, cancel: Any = None) -> SqlResult:
        raise self.error


def _client(config: Config, runner: Any = None, **headers: str) -> TestClient:
    return TestClient(create_app(config, api_keys=[KEY], sql_runner=runner), headers=headers)


def _documented(spec: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(code) for code in spec["paths"][path][method.lower()]["responses"] if code.isdigit()}


def test_every_error_a_route_gives_is_in_the_openapi_document(config: Config) -> None:
    client = _client(config, Authorization=f"Bearer {KEY}")
    spec = client.get("/openapi.json").json()
    given: dict[tuple[str, str], set[int]] = {}

    def call(method: str, path: str, url: str | None = None, client_: TestClient = client, **kwargs: Any) -> None:
        code = client_.request(method, url or path, **kwargs).status_code
        given.setdefault((method, path), set()).add(code)

    operations = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p != "/health"]
    assert len(operations) >= 12
    anonymous, stranger = _client(config), _client(config, Authorization="Bearer not-a-key")
    for method, path in operations:
        url = path.replace("{table}", "gold.daily_sales")
        call(method, path, url, anonymous)  # 401
        call(method, path, url, stranger)  # 403
    call("GET", "/tables/{table}", "/tables/gold.nosuch")  # 404
    call("GET", "/tables/{table}", "/tables/gold.daily_sales?nosuch=1")  # 400
    call("GET", "/kpi/revenue", "/kpi/revenue?start=2026-02-01&end=2026-01-01")  # 400
    call("GET", "/kpi/funnel")  # 404: gold.funnel_daily does not exist yet
    call("POST", "/sql", json={"query": "DROP TABLE gold.daily_sales"})  # 400
    call("POST", "/sql", json={"query": "SELECT '" + "x" * 4096 + "' AS q"})  # 413
    for error in (QueryBusy("busy"), QueryTimeout("slow"), EngineUnavailable("restarting")):  # 429, 504, 503
        call(
            "POST",
            "/sql",
            client_=_client(config, FailingRunner(error), Authorization=f"Bearer {KEY}"),
            json={"query": "SELECT count(*) AS n FROM gold.daily_sales"},
        )

    errors = {code for codes in given.values() for code in codes if code >= 400}
    assert {400, 401, 403, 404, 413, 429, 503, 504} <= errors
    for (method, path), codes in given.items():
        undocumented = {c for c in codes if c >= 400} - _documented(spec, method, path)
        assert not undocumented, f"{method} {path} answers {sorted(undocumented)} without listing it"
    body = spec["paths"]["/sql"]["post"]["responses"]["504"]["content"]["application/json"]["schema"]
    assert spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["properties"] == {
        "detail": {"type": "string", "title": "Detail", "description": "Why the request was not answered."}
    }


def test_a_hidden_gold_table_says_it_exists_and_how_to_serve_it(config: Config) -> None:
    client = _client(config, Authorization=f"Bearer {KEY}")
    hidden = client.get("/tables/gold.customer_segments")
    assert hidden.status_code == 404
    detail = hidden.json()["detail"]
    assert detail.startswith("table gold.customer_segments exists but is not served: serving.hidden_tables lists it")
    assert "remove it from serving.hidden_tables" in detail and "LAKEHOUSE_SERVING__HIDDEN_TABLES" in detail
    assert "ada@example.com" not in hidden.text

    other_layer = client.get("/tables/silver.orders").json()["detail"]
    assert other_layer == "table silver.orders exists but is not served: the API serves gold tables only"
    assert client.get("/tables/gold.daily_sale").json()["detail"] == (
        "no gold table 'gold.daily_sale'; did you mean gold.daily_sales?"
    )

    # doing what the message says serves it
    shown = load_config("test", overrides={"data_dir": str(config.data_dir), "serving.hidden_tables": []}, environ={})
    served = _client(shown, Authorization=f"Bearer {KEY}").get("/tables/gold.customer_segments")
    assert served.status_code == 200 and served.json()["rows"][0]["segment"] == "vip"


def test_docs_page_takes_its_assets_from_this_server(config: Config) -> None:
    client = _client(config, Authorization=f"Bearer {KEY}")
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.findall(r"https?://", page.text), "the page names another host"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/favicon.png"} <= set(assets)
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 1000, asset
    assert _client(config).get("/docs/swagger-ui.css").status_code == 401  # behind the key like the page


@pytest.fixture
def live_api(config: Config) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config, api_keys=[KEY]), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_docs_render_in_a_browser_that_reaches_no_other_host(live_api: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip("the browser test needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        def route(request_route: Any) -> None:
            requested.append(request_route.request.url)
            if urlparse(request_route.request.url).hostname == "127.0.0.1":
                request_route.continue_()
            else:  # nothing may leave this machine: a request elsewhere fails the test below
                request_route.abort()

        page.route("**/*", route)
        page.goto(f"{live_api}/docs?key={KEY}")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        operations = page.locator(".opblock-summary-path").count()
        title = page.locator(".info .title").inner_text()
        browser.close()
    elsewhere = [url for url in requested if urlparse(url).hostname != "127.0.0.1"]
    assert elsewhere == [] and errors == [], (elsewhere, errors)
    assert "lakehouse API" in title and operations >= 12
    assert f"{live_api}/docs/swagger-ui-bundle.js" in requested and f"{live_api}/openapi.json" in requested
