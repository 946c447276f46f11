"""KPI queries: pure functions from validated filters to one Spark SQL statement.

Each returns a `KpiQuery` (the SQL and the tables it reads, for cache keys). The same SQL runs on
the API's fast path (DuckDB over Arrow snapshots, see `fastsql.py`) or on any Spark session with
the tables registered, so it keeps to functions both understand.

Choices:
- revenue comes from `gold.daily_sales` (cents-rounded per day, country and category);
- average order value is revenue over *distinct* orders, which `gold.daily_sales` cannot give
  (an order with two categories counts once in each), so it reads `silver.order_lines`;
- the funnel has no country: the country filter does not apply to it;
- actual versus target joins `gold.daily_sales` by month with `silver.sales_targets`; a month
  with revenue and no target (or the reverse) is kept with a null on the missing side.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

COUNTRY = re.compile(r"\A[A-Z]{2}\Z")
CHURN_TABLE = "gold.customer_churn_scores"
MONITORING_TABLE = "gold.model_monitoring"


@dataclass(frozen=True)
class KpiQuery:
    sql: str
    tables: frozenset[str]


@dataclass(frozen=True)
class Filters:
    """A date range (inclusive) and optional ISO country codes."""

    start: dt.date
    end: dt.date
    countries: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        bad = [c for c in self.countries if not COUNTRY.match(c)]
        if bad:
            raise ValueError(f"country '{bad[0]}' is not an ISO 3166 alpha-2 code")


def _countries(filters: Filters) -> str:
    """` AND country IN (...)` when countries are given, else nothing (codes are validated)."""
    if not filters.countries:
        return ""
    return " AND country IN ({})".format(", ".join(f"'{c}'" for c in filters.countries))


def _where(filters: Filters, date_column: str, by_country: bool = True) -> str:
    dates = f"{date_column} BETWEEN DATE'{filters.start.isoformat()}' AND DATE'{filters.end.isoformat()}'"
    return dates + (_countries(filters) if by_country else "")


def _query(sql: str, *tables: str) -> KpiQuery:
    return KpiQuery(" ".join(sql.split()), frozenset(tables))


REVENUE_DIMENSIONS = ("order_date", "country", "category")


def revenue_by(dimension: str, filters: Filters) -> KpiQuery:
    """Revenue (EUR) and units per day, country or category."""
    if dimension not in REVENUE_DIMENSIONS:
        raise ValueError(f"dimension must be one of {REVENUE_DIMENSIONS}, not '{dimension}'")
    order = "order_date" if dimension == "order_date" else "revenue_eur DESC"
    return _query(
        f"""SELECT {dimension}, ROUND(SUM(revenue_eur), 2) AS revenue_eur, SUM(units) AS units
        FROM gold.daily_sales WHERE {_where(filters, "order_date")}
        GROUP BY {dimension} ORDER BY {order}, {dimension}""",
        "gold.daily_sales",
    )


def average_order_value(filters: Filters) -> KpiQuery:
    """Per day: revenue, distinct non-cancelled orders and revenue per order."""
    return _query(
        f"""SELECT order_date, ROUND(SUM(net_amount_eur), 2) AS revenue_eur,
        COUNT(DISTINCT order_id) AS orders,
        ROUND(SUM(net_amount_eur) / COUNT(DISTINCT order_id), 2) AS avg_order_value_eur
        FROM silver.order_lines WHERE status <> 'cancelled' AND {_where(filters, "order_date")}
        GROUP BY order_date ORDER BY order_date""",
        "silver.order_lines",
    )


def funnel(filters: Filters) -> KpiQuery:
    """Sessions reaching each step over the range, and the conversion between steps."""
    return _query(
        f"""SELECT SUM(sessions) AS sessions, SUM(cart_sessions) AS cart_sessions,
        SUM(checkout_sessions) AS checkout_sessions, SUM(orders) AS orders,
        SUM(cart_sessions) / NULLIF(SUM(sessions), 0) AS view_to_cart_rate,
        SUM(checkout_sessions) / NULLIF(SUM(cart_sessions), 0) AS cart_to_checkout_rate,
        SUM(orders) / NULLIF(SUM(checkout_sessions), 0) AS checkout_to_order_rate,
        SUM(orders) / NULLIF(SUM(sessions), 0) AS session_to_order_rate
        FROM gold.funnel_daily WHERE {_where(filters, "event_date", by_country=False)}""",
        "gold.funnel_daily",
    )


def cold_chain_excursions(filters: Filters) -> KpiQuery:
    """Per device: excursions, minutes above the limit and the warmest reading over the range."""
    return _query(
        f"""SELECT device_id, SUM(excursions) AS excursions,
        ROUND(SUM(minutes_above_limit), 2) AS minutes_above_limit, MAX(max_temp_c) AS max_temp_c
        FROM gold.cold_chain_daily WHERE {_where(filters, "reading_date", by_country=False)}
        GROUP BY device_id ORDER BY excursions DESC, device_id""",
        "gold.cold_chain_daily",
    )


def actual_vs_target(filters: Filters) -> KpiQuery:
    """Per country and month (`YYYY-MM`): actual revenue, target and actual / target."""
    return _query(
        f"""WITH actual AS (
            SELECT country, SUBSTRING(CAST(order_date AS STRING), 1, 7) AS month,
            ROUND(SUM(revenue_eur), 2) AS revenue_eur
            FROM gold.daily_sales WHERE {_where(filters, "order_date")} GROUP BY 1, 2),
        target AS (
            SELECT country, month, target_revenue_eur FROM silver.sales_targets
            WHERE month BETWEEN '{filters.start:%Y-%m}' AND '{filters.end:%Y-%m}'
            {_countries(filters)})
        SELECT COALESCE(a.country, t.country) AS country, COALESCE(a.month, t.month) AS month,
        a.revenue_eur, t.target_revenue_eur,
        ROUND(a.revenue_eur / NULLIF(t.target_revenue_eur, 0), 4) AS attainment
        FROM actual a FULL OUTER JOIN target t ON a.country = t.country AND a.month = t.month
        ORDER BY month, country""",
        "gold.daily_sales",
        "silver.sales_targets",
    )


def churn_distribution(bins: int = 10) -> KpiQuery:
    """Customers per churn-probability bucket of width 1 / bins (the last bucket includes 1.0)."""
    return _query(
        f"""SELECT LEAST(FLOOR(churn_probability * {bins}), {bins - 1}) / {bins} AS bucket_start,
        COUNT(*) AS customers FROM {CHURN_TABLE} WHERE churn_probability IS NOT NULL
        GROUP BY 1 ORDER BY 1""",
        CHURN_TABLE,
    )


def model_monitoring(limit: int = 50) -> KpiQuery:
    """The latest rows of the model monitoring table, as written."""
    return _query(f"SELECT * FROM {MONITORING_TABLE} LIMIT {int(limit)}", MONITORING_TABLE)


def all_tables(queries: Sequence[KpiQuery]) -> frozenset[str]:
    return frozenset(t for q in queries for t in q.tables)
