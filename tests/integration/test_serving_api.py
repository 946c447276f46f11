"""`lakehouse serve` as users run it: a real process with uvicorn and the SQL endpoint, on a copy of
the built world. Expected values come from the SQLite source and from the Delta files read with
delta-rs and pandas, never from the serving code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse.config import Config
from lakehouse.daemons import free_port
from lakehouse.files import Location
from lakehouse.s3server import S3Server
from tests.exact_sales import expected_daily_order_values, expected_daily_sales
from tests.integration import lakes
from tests.integration.servers import wait_until_healthy

pytestmark = pytest.mark.integration
KEY, OTHER_KEY = "test-key-1", "test-key-2"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROTECTED = [
    ("GET", "/tables"), ("GET", "/tables/gold.daily_sales"), ("GET", "/kpi/revenue"),
    ("GET", "/kpi/average-order-value"), ("GET", "/kpi/funnel"), ("GET", "/kpi/cold-chain"),
    ("GET", "/kpi/actual-vs-target"), ("GET", "/kpi/churn-risk"), ("GET", "/kpi/model-monitoring"),
    ("GET", "/kpi/date-range"), ("POST", "/sql"), ("GET", "/dashboard"), ("GET", "/static/plotly.min.js"),
    ("GET", "/docs"), ("GET", "/openapi.json"),
]
REPO = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, data_dir: Path, api_port: int, sql_port: int, process: subprocess.Popen[bytes]) -> None:
        self.data_dir, self.api_port, self.sql_port, self.process = data_dir, api_port, sql_port, process
        self.url = f"http://127.0.0.1:{api_port}"
        self.client = httpx.Client(base_url=self.url, headers=AUTH, timeout=60)
        self.lake_on_s3: Location | None = None

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    def get(self, path: str, **kwargs: Any) -> Any:
        """The JSON answer with its numbers read exactly (as Decimals, as a finance client would)."""
        response = self.client.get(path, **kwargs)
        assert response.status_code == 200, response.text
        return json.loads(response.text, parse_float=Decimal)

    def table(self, name: str) -> pd.DataFrame:
        layer, _, table = name.partition(".")
        return lakes.table((self.lake_on_s3 or Location(self.lake)) / layer / table).to_pandas()

    def versions(self) -> dict[str, int]:
        found = {}
        for log in sorted(self.lake.glob("*/*/_delta_log")):
            found[f"{log.parent.parent.name}.{log.parent.name}"] = DeltaTable(str(log.parent)).version()
        return found


def _serve(data_dir: Path, engine: str, environ: dict[str, str]) -> Iterator[Server]:
    api_port, sql_port = free_port(), free_port()
    # TZ: the server runs on a machine east of UTC; every time it answers is still in UTC.
    env = {**environ, "TZ": "Asia/Tokyo", "LAKEHOUSE_API_KEYS": f"{KEY},{OTHER_KEY}",
           "LAKEHOUSE_SERVING__ROW_LIMIT": "50", "LAKEHOUSE_SERVING__REFRESH_SECONDS": "0.5",
           "LAKEHOUSE_SERVING__SQL_TIMEOUT_SECONDS": "20"}
    args = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--engine", engine,
            "--data-dir", str(data_dir), "serve", "--port", str(api_port), "--sql-port", str(sql_port)]
    log = (data_dir.parent / "serve.log").open("wb")
    process = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = Server(data_dir, api_port, sql_port, process)
    deadline = time.monotonic() + 120
    wait_until_healthy(srv.url, process, data_dir.parent / "serve.log", 120)
    while time.monotonic() < deadline + 180:  # /sql's engine starts in the background: 503 until it serves
        if srv.client.post("/sql", json={"query": "SELECT COUNT(*) AS n FROM gold.daily_sales"}).status_code != 503:
            break
        time.sleep(1)
    yield srv
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def server(built_world: Config, engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("serving") / "world"
    shutil.copytree(built_world.data_dir, data_dir)
    yield from _serve(data_dir, engine, dict(os.environ))


@pytest.fixture(scope="module")
def server_on_s3(built_world: Config, engine: str, s3_server: S3Server,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`lakehouse serve` over a copy of the built world's lake on the project's S3 server (the app
    database, which the expected values come from, stays local)."""
    data_dir = tmp_path_factory.mktemp("serving-s3") / "world"
    shutil.copytree(built_world.sources_dir, data_dir / "sources")
    lake = lakes.lake_on_s3(built_world, s3_server, "serve")
    for srv in _serve(data_dir, engine, lakes.env(s3_server, lake.parent)):
        srv.lake_on_s3 = lake
        yield srv


def test_health_needs_no_key(server: Server) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_other_endpoint_needs_a_valid_key(server: Server, method: str, path: str) -> None:
    body = {"query": "SELECT 1"} if method == "POST" else None
    missing = httpx.request(method, server.url + path, json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = httpx.request(method, server.url + path, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    ok = httpx.request(method, server.url + path, json=body, headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert ok.status_code == 200, ok.text


def test_tables_lists_rows_and_versions(server: Server) -> None:
    listed = {t["name"]: t for t in server.client.get("/tables").json()["tables"]}
    expected = server.versions()
    assert set(listed) == set(expected) - {"gold.customer_segments"}
    for name in ("gold.daily_sales", "silver.order_lines", "gold.cold_chain_daily"):
        assert listed[name]["version"] == expected[name]
        assert listed[name]["rows"] == len(server.table(name))


def test_table_pages_cover_the_filtered_table_once(server: Server) -> None:
    frame = server.table("gold.daily_sales")
    expected = frame[(frame.country == "DE") & (frame.revenue_eur >= 50)]
    rows, cursor, pages = [], None, 0
    while True:
        params = {"country": "DE", "revenue_eur__gte": "50", "order_by": "-revenue_eur,order_date", "limit": "37"}
        if cursor:
            params["cursor"] = cursor
        page = server.get("/tables/gold.daily_sales", params=params)
        rows += page["rows"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    got = pd.DataFrame(rows)
    assert pages == -(-len(expected) // 37) and len(got) == len(expected)
    assert list(got.revenue_eur) == sorted(expected.revenue_eur, reverse=True)
    assert not got.duplicated(["order_date", "country", "category"]).any()
    assert set(got.category) == set(expected.category)


def _forged_cursor(version: object) -> str:
    """A cursor as the API makes one (base64 JSON with the request's fingerprint), for `version`."""
    import base64
    import hashlib

    request = json.dumps(["gold.daily_sales", None, []], separators=(",", ":")).encode()
    fingerprint = hashlib.sha1(request).hexdigest()[:16]
    state = json.dumps({"v": version, "o": 0, "q": fingerprint}).encode()
    return base64.urlsafe_b64encode(state).decode().rstrip("=")


@pytest.mark.parametrize(("params", "message"), [
    ({"nosuch": "1"}, "unknown column"), ({"order_by": "nosuch"}, "unknown column"),
    ({"orders__like": "1"}, "unknown operator"), ({"order_date__gte": "not-a-date"}, "bad filter value"),
    ({"cursor": "garbage"}, "cursor is not valid"),
    # well-formed cursors for this very request, made up: a version never served, a negative one, true
    *[({"cursor": _forged_cursor(v)}, "cursor is not valid") for v in (999, -5, True)],
])
def test_bad_table_requests_say_why(server: Server, params: dict[str, str], message: str) -> None:
    response = server.client.get("/tables/gold.daily_sales", params=params)
    assert response.status_code == 400 and message in response.json()["detail"]


@pytest.mark.parametrize("table", ["silver.customers", "gold.customer_segments", "gold.nosuch", "bronze.orders"])
def test_only_visible_gold_tables_are_served(server: Server, table: str) -> None:
    assert server.client.get(f"/tables/{table}").status_code == 404


def test_revenue_by_day_matches_the_app_database_to_the_cent(server: Server) -> None:
    _assert_revenue_by_day(server)


def test_with_the_lake_on_s3_revenue_by_day_matches_the_app_database(server_on_s3: Server) -> None:
    assert not server_on_s3.lake.exists()  # gold is read from the bucket only
    _assert_revenue_by_day(server_on_s3)


def _assert_revenue_by_day(server: Server) -> None:
    sales = expected_daily_sales(server.data_dir / "sources")  # per (day, country, category), rounded
    days = sorted({day for day, _, _ in sales})
    start, end = days[10], days[40]
    got = server.get("/kpi/revenue", params={"start": start, "end": end})["rows"]
    expected: dict[str, Decimal] = {}
    for (day, _, _), (_, _, revenue, _) in sales.items():
        if start <= day <= end:
            expected[day] = expected.get(day, Decimal(0)) + revenue
    assert {r["order_date"]: r["revenue_eur"] for r in got} == expected
    assert [r["order_date"] for r in got] == sorted(expected)


def test_average_order_value_matches_the_app_database_to_the_cent(server: Server) -> None:
    expected = expected_daily_order_values(server.data_dir / "sources")
    got = server.get("/kpi/average-order-value")["rows"]
    assert {r["order_date"]: (r["revenue_eur"], r["orders"], r["avg_order_value_eur"]) for r in got} == expected


def test_money_in_json_is_a_number_with_two_decimals(server: Server) -> None:
    # "196599.98", "12.50": never "196599.98000000004", never "12.5"
    cents = re.compile(r'"(?:revenue_eur|avg_order_value_eur|lifetime_value_eur)":(-?\d+\.\d{2})[,}]')
    money = re.compile(r'"(?:revenue_eur|avg_order_value_eur|lifetime_value_eur)":([^,}]*)')
    for path, params in [("/kpi/revenue", {}), ("/kpi/revenue", {"by": "category"}), ("/kpi/average-order-value", {}),
                         ("/kpi/actual-vs-target", {}), ("/tables/gold.daily_sales", {"limit": "500"}),
                         ("/tables/gold.customer_features", {"limit": "500"})]:
        text = server.client.get(path, params=params).text
        values = money.findall(text)
        assert values and len(cents.findall(text)) == len([v for v in values if v != "null"]), (path, values[:5])


def test_revenue_by_country_and_category_match_the_delta_files(server: Server) -> None:
    sales = server.table("gold.daily_sales")
    sales["order_date"] = sales.order_date.astype(str)
    window = sales[(sales.order_date >= "2026-01-15") & sales.country.isin(["DE", "FR"])]
    for by in ("country", "category"):
        params = {"by": by, "start": "2026-01-15", "country": ["DE", "FR"]}
        got = {r[by]: r for r in server.get("/kpi/revenue", params=params)["rows"]}
        expected = window.groupby(by).agg(revenue=("revenue_eur", "sum"), units=("units", "sum"))
        assert set(got) == set(expected.index)
        for key, row in expected.iterrows():  # Decimals summed by pandas: exact
            assert got[key]["revenue_eur"] == row.revenue
            assert got[key]["units"] == row.units


def test_funnel_cold_chain_and_targets_match_the_delta_files(server: Server) -> None:
    funnel = server.table("gold.funnel_daily")
    got = server.client.get("/kpi/funnel").json()["rows"][0]
    assert got["sessions"] == funnel.sessions.sum() and got["orders"] == funnel.orders.sum()
    assert got["session_to_order_rate"] == pytest.approx(funnel.orders.sum() / funnel.sessions.sum())

    cold = server.table("gold.cold_chain_daily").groupby("device_id").excursions.sum()
    got_cold = {r["device_id"]: r["excursions"] for r in server.client.get("/kpi/cold-chain").json()["rows"]}
    assert got_cold == cold.to_dict()

    sales = server.table("gold.daily_sales")
    sales["month"] = sales.order_date.astype(str).str[:7]
    actual = sales.groupby(["country", "month"]).revenue_eur.sum()
    targets = server.table("silver.sales_targets").set_index(["country", "month"]).target_revenue_eur
    rows = server.get("/kpi/actual-vs-target")["rows"]
    assert {(r["country"], r["month"]) for r in rows} == set(actual.index) | set(targets.index)
    for r in rows:
        key = (r["country"], r["month"])
        assert r["revenue_eur"] == (actual[key] if key in actual.index else None)
        goal = None if r["target_revenue_eur"] is None else float(r["target_revenue_eur"])
        assert goal == (targets[key] if key in targets.index else None)


# Each KPI as one Spark SQL statement over the whole table, run by the test's engine session: the
# API answers the same rows in the same order from its per-version pre-aggregates.
ORACLE = {
    "revenue-order_date": """SELECT order_date, ROUND(SUM(revenue_eur), 2) AS revenue_eur, SUM(units) AS units
        FROM {daily_sales} WHERE {dates} {countries} GROUP BY order_date ORDER BY order_date""",
    "revenue-country": """SELECT country, ROUND(SUM(revenue_eur), 2) AS revenue_eur, SUM(units) AS units
        FROM {daily_sales} WHERE {dates} {countries} GROUP BY country ORDER BY revenue_eur DESC, country""",
    "revenue-category": """SELECT category, ROUND(SUM(revenue_eur), 2) AS revenue_eur, SUM(units) AS units
        FROM {daily_sales} WHERE {dates} {countries} GROUP BY category ORDER BY revenue_eur DESC, category""",
    "average-order-value": """WITH per_country AS (SELECT order_date, country,
            ROUND(SUM(net_amount_eur), 2) AS revenue_eur, COUNT(DISTINCT order_id) AS orders
            FROM {order_lines} WHERE status <> 'cancelled' AND {dates} {countries} GROUP BY order_date, country)
        SELECT order_date, SUM(revenue_eur) AS revenue_eur, SUM(orders) AS orders,
        ROUND(SUM(revenue_eur) / SUM(orders), 2) AS avg_order_value_eur
        FROM per_country GROUP BY order_date ORDER BY order_date""",
    "funnel": """SELECT SUM(sessions) AS sessions, SUM(cart_sessions) AS cart_sessions,
        SUM(checkout_sessions) AS checkout_sessions, SUM(orders) AS orders,
        SUM(cart_sessions) / NULLIF(SUM(sessions), 0) AS view_to_cart_rate,
        SUM(checkout_sessions) / NULLIF(SUM(cart_sessions), 0) AS cart_to_checkout_rate,
        SUM(orders) / NULLIF(SUM(checkout_sessions), 0) AS checkout_to_order_rate,
        SUM(orders) / NULLIF(SUM(sessions), 0) AS session_to_order_rate
        FROM {funnel_daily} WHERE {event_dates}""",
    "cold-chain": """SELECT device_id, SUM(excursions) AS excursions,
        ROUND(SUM(minutes_above_limit), 2) AS minutes_above_limit, MAX(max_temp_c) AS max_temp_c
        FROM {cold_chain_daily} WHERE {reading_dates} GROUP BY device_id ORDER BY excursions DESC, device_id""",
    "actual-vs-target": """WITH actual AS (
            SELECT country, SUBSTRING(CAST(order_date AS STRING), 1, 7) AS month,
            ROUND(SUM(revenue_eur), 2) AS revenue_eur FROM {daily_sales} WHERE {dates} {countries} GROUP BY 1, 2),
        target AS (SELECT country, month, target_revenue_eur FROM {sales_targets}
            WHERE month BETWEEN '{first_month}' AND '{last_month}' {countries})
        SELECT COALESCE(a.country, t.country) AS country, COALESCE(a.month, t.month) AS month,
        a.revenue_eur, t.target_revenue_eur, ROUND(a.revenue_eur / NULLIF(t.target_revenue_eur, 0), 4) AS attainment
        FROM actual a FULL OUTER JOIN target t ON a.country = t.country AND a.month = t.month
        ORDER BY month, country""",
}


def _oracle_rows(spark, server: Server, kpi: str, start: str, end: str, countries: list[str]) -> list[dict]:
    views = {}
    for table in ("gold.daily_sales", "silver.order_lines", "gold.funnel_daily", "gold.cold_chain_daily",
                  "silver.sales_targets"):
        layer, _, name = table.partition(".")
        view = f"kpi_oracle_{name}"
        spark.read.format("delta").load(str(server.lake / layer / name)).createOrReplaceTempView(view)
        views[name] = view
    sql = ORACLE[kpi].format(
        **views, dates=f"order_date BETWEEN DATE'{start}' AND DATE'{end}'",
        event_dates=f"event_date BETWEEN DATE'{start}' AND DATE'{end}'",
        reading_dates=f"reading_date BETWEEN DATE'{start}' AND DATE'{end}'",
        countries="AND country IN ({})".format(", ".join(f"'{c}'" for c in countries)) if countries else "",
        first_month=start[:7], last_month=end[:7],
    )
    return [row.asDict() for row in spark.sql(sql).collect()]


def _matches(got: object, want: object) -> bool:
    if isinstance(want, Decimal):  # money: to the cent, digit for digit
        return isinstance(got, Decimal) and str(got) == str(want)
    if isinstance(want, float):  # ratios and temperatures (not money): rounding half-up or half-even
        return got is not None and abs(float(got) - want) <= 0.0100001
    if hasattr(want, "isoformat"):
        return got == want.isoformat()
    return bool(got == want)


def test_every_kpi_equals_the_same_kpi_as_one_spark_sql_statement(server: Server, spark) -> None:
    days = sorted(server.table("gold.daily_sales").order_date.astype(str).unique())
    windows = [  # whole range, a fortnight with two countries, one day in an unknown country, nothing
        (days[0], days[-1], []), (days[len(days) // 3], days[len(days) // 3 + 13], ["DE", "FR"]),
        (days[5], days[5], ["XX"]), ("2000-01-01", "2000-01-31", []),
    ]
    compared = 0
    for start, end, countries in windows:
        for kpi in ORACLE:
            path, _, by = kpi.partition("-") if kpi.startswith("revenue-") else (kpi, "", "")
            params: dict[str, object] = {"start": start, "end": end}
            if by:
                params["by"] = by
            if countries and kpi not in ("funnel", "cold-chain"):
                params["country"] = countries
            got = server.get(f"/kpi/{path}", params=params)["rows"]
            wanted = _oracle_rows(spark, server, kpi, start, end, countries if "country" in params else [])
            assert len(got) == len(wanted), (kpi, start, end, countries)
            for row, want in zip(got, wanted, strict=True):
                assert set(row) == set(want), kpi
                assert all(_matches(row[k], want[k]) for k in want), (kpi, params, row, want)
            compared += len(wanted)
    assert compared > 100


def test_sql_runs_a_select_over_gold_with_a_row_cap(server: Server) -> None:
    query = "SELECT country, SUM(units) AS units FROM gold.daily_sales GROUP BY country ORDER BY country"
    body = server.client.post("/sql", json={"query": query}).json()
    expected = server.table("gold.daily_sales").groupby("country").units.sum()
    assert {r["country"]: r["units"] for r in body["rows"]} == expected.to_dict()
    assert body["truncated"] is False
    capped = server.client.post("/sql", json={"query": "SELECT * FROM gold.daily_sales"}).json()
    assert len(capped["rows"]) == 50 and capped["truncated"] is True  # LAKEHOUSE_SERVING__ROW_LIMIT=50


TRANSFORMED = Path(tempfile.gettempdir()) / f"lakehouse-transform-{os.getpid()}"
INJECTIONS = [
    "SELECT * FROM gold.daily_sales; DROP TABLE gold.daily_sales",
    "DROP TABLE gold.daily_sales",
    "INSERT INTO gold.daily_sales SELECT * FROM gold.daily_sales",
    "DELETE FROM gold.daily_sales",
    "UPDATE gold.daily_sales SET revenue_eur = 0",
    "MERGE INTO gold.daily_sales t USING gold.daily_sales s ON t.country = s.country WHEN MATCHED THEN DELETE",
    "CREATE TABLE gold.stolen AS SELECT * FROM silver.customers",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM csv.`/etc/passwd`",
    "SELECT * FROM text.`/etc/passwd`",
    "SELECT email FROM silver.customers",
    "SELECT * FROM gold.daily_sales WHERE country IN (SELECT country FROM silver.customers)",
    "SELECT * FROM bronze.orders UNION ALL SELECT * FROM gold.daily_sales",
    "SELECT * FROM gold.customer_segments",
    "SELECT reflect('java.lang.Runtime', 'getRuntime')",
    "SELECT * FROM range(10)",
    "SET spark.sql.ansi.enabled = false",
    "TRUNCATE TABLE gold.daily_sales",
    # Apache Spark runs a script transform's command on the server
    f"SELECT TRANSFORM(country) USING 'touch {TRANSFORMED}' AS (a) FROM gold.daily_sales",
]


@pytest.mark.parametrize("query", INJECTIONS)
def test_sql_rejects_everything_but_a_select_over_gold(server: Server, query: str) -> None:
    before = server.versions()
    response = server.client.post("/sql", json={"query": query})
    assert response.status_code == 400 and response.json()["detail"].startswith("query rejected: ")
    assert server.versions() == before
    assert not (server.lake / "gold" / "stolen").exists() and not TRANSFORMED.exists()


def test_sql_text_is_never_substituted_from_the_servers_environment(server: Server) -> None:
    """Apache Spark would replace `${env:...}` before parsing: the API keys, the S3 secret."""
    query = "SELECT '${env:LAKEHOUSE_API_KEYS}' AS k, '${system:user.name}' AS u FROM gold.daily_sales LIMIT 1"
    body = server.client.post("/sql", json={"query": query}).json()
    assert body["rows"] == [{"k": "${env:LAKEHOUSE_API_KEYS}", "u": "${system:user.name}"}], body


def test_spark_connect_clients_see_gold_with_no_setup(server: Server) -> None:
    _assert_connect_client_reads_gold(server)


def test_with_the_lake_on_s3_spark_connect_clients_read_gold(server_on_s3: Server) -> None:
    _assert_connect_client_reads_gold(server_on_s3)


def _assert_connect_client_reads_gold(server: Server) -> None:
    code = (
        "import sys\nfrom pyspark.sql import SparkSession\n"
        "s = SparkSession.builder.remote(sys.argv[1]).getOrCreate()\n"
        "print(s.sql('SELECT COUNT(*) AS n, SUM(units) AS u FROM gold.daily_sales').collect()[0].asDict())\n"
        "print(sorted(t.name for t in s.catalog.listTables('gold')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, f"sc://localhost:{server.sql_port}/;token={KEY}"],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "SPARK_REMOTE": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    counts, tables = result.stdout.strip().splitlines()[-2:]
    sales = server.table("gold.daily_sales")
    assert eval(counts) == {"n": len(sales), "u": sales.units.sum()}  # noqa: S307 - our own subprocess's output
    assert {"daily_sales", "funnel_daily", "cold_chain_daily", "customer_features"} <= set(eval(tables))  # noqa: S307


CHROMIUM = Path("/usr/bin/chromium")
CHART_STATE = """() => Object.fromEntries([...document.querySelectorAll('.chart')].map(el => [
    el.id.replace('chart-', ''),
    {state: el.dataset.state || null, points: Number(el.dataset.points || 0),
     traces: el.querySelectorAll('g.trace, g.hm').length, text: el.textContent}]))"""


def _load_dashboard(url: str, key: str, screenshot: Path) -> dict[str, object]:
    """Open the dashboard in headless Chromium; chart states, console errors, a screenshot."""
    if not CHROMIUM.exists():
        pytest.skip("the dashboard test needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"{r.url} {r.failure}"))
        page.goto(f"{url}/dashboard?key={key}")
        page.wait_for_function("document.body.dataset.ready !== undefined", timeout=60_000)
        assert page.url == f"{url}/dashboard"  # the key left the address bar
        charts = page.evaluate(CHART_STATE)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return {"errors": errors, "charts": charts}


def test_dashboard_draws_every_chart(server: Server, tmp_path: Path) -> None:
    state = _load_dashboard(server.url, KEY, tmp_path / "dashboard.png")
    assert state["errors"] == [], state["errors"]
    charts = state["charts"]
    for chart in ("revenue-trend", "aov", "revenue-country", "revenue-category", "funnel", "target", "cold-chain"):
        assert charts[chart]["state"] == "drawn" and charts[chart]["points"] > 0 and charts[chart]["traces"] > 0, chart
    assert charts["churn"]["state"] == "empty" and "no scores yet" in charts["churn"]["text"]
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000

    scores = server.lake / "gold" / "customer_churn_scores"
    probabilities = [0.05, 0.15, 0.15, 0.55, 0.95, 1.0]
    write_deltalake(str(scores), pa.table({
        "customer_id": pa.array(range(len(probabilities)), pa.int64()), "churn_probability": probabilities,
        "model_name": ["churn"] * 6, "model_version": ["1"] * 6,
    }))
    state = _load_dashboard(server.url, KEY, tmp_path / "dashboard-scores.png")
    assert state["errors"] == [], state["errors"]
    assert state["charts"]["churn"]["state"] == "drawn" and state["charts"]["churn"]["points"] == 4
    buckets = server.client.get("/kpi/churn-risk").json()["rows"]
    assert [(round(r["bucket_start"], 1), r["customers"]) for r in buckets] == [(0.0, 1), (0.1, 2), (0.5, 1), (0.9, 2)]


# Pairs of tick labels of one chart whose boxes overlap, and labels drawn at an angle.
TICKS = """(id) => {
  const labels = [...document.querySelectorAll(`#${id} .xtick text, #${id} .ytick text`)];
  const boxes = labels.map((t) => t.getBoundingClientRect()).filter((b) => b.width > 0);
  let overlapping = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlapping++;
  }
  const turned = labels.filter((t) => /rotate\((?!0[,)])/.test(t.getAttribute("transform") || "")).length;
  return {labels: labels.map((t) => t.textContent), overlapping, turned};
}"""
MODEBAR = "(id) => [...document.querySelectorAll(`#${id} .modebar-group`)].map((g) => getComputedStyle(g).opacity)"
MONITORING_TABLE = """() => {
  const table = document.getElementById("monitoring-table");
  const rows = [...table.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent));
  const badges = [...table.querySelectorAll(".badge")].map((b) => {
    const box = b.getBoundingClientRect(), style = getComputedStyle(b);
    return {text: b.textContent, color: style.backgroundColor,
            visible: box.width > 0 && box.right <= window.innerWidth};
  });
  const sideways = table.scrollWidth > table.parentElement.clientWidth || document.body.scrollWidth > window.innerWidth;
  return {rows, badges, sideways, run: document.getElementById("monitoring-run").textContent};
}"""


def _monitoring_run(run_id: str, at: str, values: list[tuple[str, str, float, str]]) -> pa.Table:
    import datetime as dt

    from lakehouse.arrowio import arrow_schema
    from lakehouse.gold.model_monitoring import SPEC

    rows = [{"run_id": run_id, "monitored_at": dt.datetime.fromisoformat(at), "model_name": "churn",
             "model_version": "3", "kind": kind, "metric": metric, "value": value, "warn_threshold": 0.1,
             "alert_threshold": 0.25, "status": status, "as_of_date": dt.date(2026, 4, 30)}
            for kind, metric, value, status in values]
    return pa.Table.from_pylist(rows, schema=arrow_schema(SPEC.declared_schema()))


def test_dashboard_labels_are_level_unknown_countries_named_and_monitoring_readable(
    server: Server, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("the dashboard test needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import Route, sync_playwright

    table = server.lake / "gold" / "model_monitoring"
    write_deltalake(str(table), _monitoring_run("monitor-old", "2026-05-01T08:00:00", [
        ("feature_drift", "psi:tenure_days", 0.7034718327, "ALERT")]))
    latest = [("feature_drift", "psi:orders_count", 0.0338284925, "OK"),
              ("feature_drift", "psi:sessions_30d", 0.1534718327, "WARN"),
              ("score_drift", "psi:churn_probability", 0.4713869315, "ALERT")]
    write_deltalake(str(table), _monitoring_run("monitor-new", "2026-05-02T08:00:00", latest), mode="append")

    def with_unknown_country(route: Route) -> None:
        """The answer as served, plus revenue from customers of no known country (`ZZ`)."""
        answer = route.fetch().json()
        extra = dict(answer["rows"][0])
        extra["country"] = "ZZ"
        answer["rows"].append(extra)
        route.fulfill(json=answer)

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 1500})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route(re.compile(r".*/kpi/(revenue\?.*by=country.*|actual-vs-target.*)"), with_unknown_country)
        page.goto(f"{server.url}/dashboard?key={KEY}")
        page.wait_for_function("document.body.dataset.ready !== undefined", timeout=60_000)
        ticks = {chart: page.evaluate(TICKS, f"chart-{chart}") for chart in ("target", "revenue-country")}
        hidden = page.evaluate(MODEBAR, "chart-revenue-trend")
        page.hover("#chart-revenue-trend")
        page.wait_for_timeout(500)
        shown = page.evaluate(MODEBAR, "chart-revenue-trend")
        monitoring = page.evaluate(MONITORING_TABLE)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        browser.close()
    assert errors == []
    for chart, found in ticks.items():
        assert found["overlapping"] == 0 and found["turned"] == 0, (chart, found)
        assert "ZZ (unknown)" in found["labels"] and "ZZ" not in found["labels"], (chart, found["labels"])
    assert hidden and set(hidden) == {"0"} and set(shown) == {"1"}  # the toolbar only while hovered
    assert monitoring["rows"] == [  # the latest run only, rounded, by kind and metric as the API sends them
        ["psi:orders_count", "feature drift", "0.034", "0.10", "0.25", "OK"],
        ["psi:sessions_30d", "feature drift", "0.153", "0.10", "0.25", "WARN"],
        ["psi:churn_probability", "score drift", "0.471", "0.10", "0.25", "ALERT"],
    ], monitoring["rows"]
    assert [b["text"] for b in monitoring["badges"]] == [r[-1] for r in monitoring["rows"]]
    assert all(b["visible"] for b in monitoring["badges"]) and not monitoring["sideways"], monitoring
    assert len({b["color"] for b in monitoring["badges"]}) == 3  # OK, WARN and ALERT look different
    assert monitoring["run"] == "churn v3, data as of 2026-04-30, monitored 2026-05-02 08:00 UTC: 1 OK, 1 WARN, 1 ALERT"


def test_a_cached_answer_still_needs_a_valid_key(server: Server) -> None:
    params = {"by": "category", "start": "2026-01-02"}
    primed = server.client.get("/kpi/revenue", params=params)
    hit = server.client.get("/kpi/revenue", params=params)
    assert hit.headers["x-cache"] == "hit" and hit.headers["content-type"] == "application/json"
    assert hit.json() == primed.json() and hit.headers["etag"] == primed.headers["etag"]
    url = server.url + "/kpi/revenue"
    assert httpx.get(url, params=params).status_code == 401
    assert httpx.get(url, params=params, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert httpx.get(url, params=params, headers={"Authorization": f"Basic {KEY}"}).status_code == 401
    bad = server.client.get("/kpi/revenue", params={**params, "country": "germany"})
    assert bad.status_code == 400, "a request never answered before is validated as usual"


def test_cache_hits_until_a_new_gold_version(server: Server) -> None:
    params = {"by": "country"}
    first = server.client.get("/kpi/revenue", params=params)
    second = server.client.get("/kpi/revenue", params=params)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    unchanged = server.client.get("/kpi/revenue", params=params, headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""

    path = server.lake / "gold" / "daily_sales"
    schema = DeltaTable(str(path)).to_pyarrow_table().schema
    row = {"order_date": pd.Timestamp("2026-01-05").date(), "country": "DE", "category": "cache-test",
           "orders": 1, "units": 3, "revenue_eur": Decimal("1000.01"), "avg_order_value_eur": Decimal("1000.01")}
    write_deltalake(str(path), pa.Table.from_pylist([row], schema=schema), mode="append")

    third = server.client.get("/kpi/revenue", params=params, headers={"If-None-Match": first.headers["etag"]})
    assert third.status_code == 200 and third.headers["x-cache"] == "miss"
    before = {r["country"]: r["revenue_eur"] for r in json.loads(first.text, parse_float=Decimal)["rows"]}
    after = {r["country"]: r["revenue_eur"] for r in json.loads(third.text, parse_float=Decimal)["rows"]}
    assert after["DE"] == before["DE"] + Decimal("1000.01")
    query = "SELECT COUNT(*) AS n FROM gold.daily_sales WHERE category = 'cache-test'"
    sql = server.client.post("/sql", json={"query": query})
    assert sql.json()["rows"] == [{"n": 1}]
