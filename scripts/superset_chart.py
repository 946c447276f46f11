"""Apache Superset over the PostgreSQL endpoint: a database, a dataset on gold.daily_sales, a chart, a screenshot.

Redoes the picture in docs/serving.md ("A BI tool over the endpoint"), where the setup is
described step by step. It talks to a running Superset through its REST API (the same calls its
UI makes), then opens the chart in Debian's Chromium and saves a PNG. Not part of CI; run it with
the project's venv (httpx and playwright are dev dependencies):

    .venv/bin/python scripts/superset_chart.py --superset http://127.0.0.1:8088 \\
        --pg-uri "postgresql+psycopg2://analyst:<key>@127.0.0.1:5433/lakehouse" \\
        --out docs/images/superset_revenue_by_country.png

The admin's password comes from SUPERSET_PASSWORD (never a default). Running it again reuses the
database, dataset and chart it made before (found by name).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

DATABASE = "lakehouse"
SCHEMA, TABLE = "gold", "daily_sales"
CHART = "Revenue by country (gold.daily_sales)"
METRIC = {"expressionType": "SIMPLE", "column": {"column_name": "revenue_eur"}, "aggregate": "SUM",
          "label": "revenue (EUR)"}


class Superset:
    """Superset's REST API with a logged-in session (a bearer token and the CSRF token its writes need)."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=120)
        login = {"username": user, "password": password, "provider": "db", "refresh": True}
        token = self._ok(self.http.post("/api/v1/security/login", json=login))["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        csrf = self._ok(self.http.get("/api/v1/security/csrf_token/"))["result"]
        self.http.headers.update({"X-CSRFToken": csrf, "Referer": url})

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        if response.is_error:
            sys.exit(f"error: {response.request.method} {response.request.url.path}: "
                     f"{response.status_code} {response.text[:500]}")
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._ok(self.http.get(path, params=params))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._ok(self.http.post(path, json=body))

    def find(self, kind: str, column: str, value: str) -> int | None:
        """The id of the `kind` (database, dataset, chart) whose `column` is `value`, if any."""
        query = f"(filters:!((col:{column},opr:eq,value:'{value}')))"
        found = self.get(f"/api/v1/{kind}/", q=query)["result"]
        return int(found[0]["id"]) if found else None


def ensure_database(api: Superset, uri: str) -> int:
    """The endpoint as a Superset database, after Superset's own connection test."""
    api.post("/api/v1/database/test_connection/", {"database_name": DATABASE, "sqlalchemy_uri": uri})
    found = api.find("database", "database_name", DATABASE)
    if found is not None:
        return found
    body = {"database_name": DATABASE, "sqlalchemy_uri": uri, "expose_in_sqllab": True}
    return int(api.post("/api/v1/database/", body)["id"])


def ensure_dataset(api: Superset, database: int) -> int:
    """gold.daily_sales as a dataset: Superset reflects its columns through the endpoint's catalog."""
    found = api.find("dataset", "table_name", TABLE)
    if found is not None:
        return found
    return int(api.post("/api/v1/dataset/", {"database": database, "schema": SCHEMA, "table_name": TABLE})["id"])


def ensure_chart(api: Superset, dataset: int) -> int:
    """A bar chart of revenue by country, largest first."""
    found = api.find("chart", "slice_name", CHART)
    if found is not None:
        return found
    params = {"datasource": f"{dataset}__table", "viz_type": "echarts_timeseries_bar", "x_axis": "country",
              "metrics": [METRIC], "groupby": [], "adhoc_filters": [], "row_limit": 100, "time_range": "No filter",
              "x_axis_sort": METRIC["label"], "x_axis_sort_asc": False, "show_legend": False,
              "show_value": True, "y_axis_format": "SMART_NUMBER", "x_axis_title": "country",
              "y_axis_title": "revenue (EUR)", "y_axis_title_margin": 50, "x_axis_title_margin": 30}
    body = {"slice_name": CHART, "viz_type": params["viz_type"], "datasource_id": dataset,
            "datasource_type": "table", "params": json.dumps(params)}
    return int(api.post("/api/v1/chart/", body)["id"])


def chart_sql(api: Superset, dataset: int) -> str:
    """The SQL Superset sends to the endpoint for the chart's query."""
    query = {"columns": ["country"], "metrics": [METRIC], "orderby": [[METRIC, False]], "row_limit": 100}
    body = {"datasource": {"id": dataset, "type": "table"}, "queries": [query], "result_type": "query",
            "result_format": "json"}
    return str(api.post("/api/v1/chart/data", body)["result"][0]["query"])


def screenshot(url: str, user: str, password: str, chart: int, out: Path, chromium: str) -> None:
    """The chart in Superset's Explore view (dataset, its columns, the query's controls, the chart) as a PNG."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(f"{url}/login/")
        page.fill("#username", user)
        page.fill("#password", password)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda u: "/login" not in u, timeout=60_000)
        page.goto(f"{url}/explore/?slice_id={chart}")
        page.wait_for_selector(".chart-container canvas", timeout=120_000)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(5_000)  # ECharts grows the bars in before it writes their values
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--superset", default="http://127.0.0.1:8088", help="Superset's URL")
    parser.add_argument("--user", default="admin", help="a Superset admin (password in SUPERSET_PASSWORD)")
    parser.add_argument("--pg-uri", required=True, help="SQLAlchemy URI of the endpoint, with the key as password")
    parser.add_argument("--out", type=Path, default=Path("docs/images/superset_revenue_by_country.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser that takes the screenshot")
    args = parser.parse_args()
    password = os.environ.get("SUPERSET_PASSWORD")
    if not password:
        sys.exit("error: set SUPERSET_PASSWORD to the Superset admin's password")
    api = Superset(args.superset, args.user, password)
    database = ensure_database(api, args.pg_uri)
    dataset = ensure_dataset(api, database)
    columns = [c["column_name"] for c in api.get(f"/api/v1/dataset/{dataset}")["result"]["columns"]]
    print(f"database {database}, dataset {dataset} ({SCHEMA}.{TABLE}: {', '.join(columns)})")
    chart = ensure_chart(api, dataset)
    print(f"chart {chart}: {args.superset}/explore/?slice_id={chart}")
    print("its SQL: " + " ".join(chart_sql(api, dataset).split()))
    screenshot(args.superset.rstrip("/"), args.user, password, chart, args.out, args.chromium)
    print(f"screenshot {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
