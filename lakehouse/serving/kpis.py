"""KPIs: a Spark SQL pre-aggregate per KPI, rolled up per request to the answer.

Each KPI reads one or two `Base`s: a Spark SQL statement at the grain of the KPI's filters (a day
and a country), which the API runs once per version of the tables it reads (see `rollup.py`).
A request's date range and countries select rows of that pre-aggregate, and the functions below
sum them to the answer, round, derive ratios and order. What a KPI measures is its base SQL;
how a request narrows it is the same few lines for every KPI.

Choices:
- revenue comes from `gold.daily_sales` (cents-rounded per day, country and category);
- average order value is revenue over *distinct* orders, which `gold.daily_sales` cannot give
  (an order with two categories counts once in each), so its base reads `silver.order_lines`,
  counting distinct orders per day and country (an order has one day and one country, so these
  counts add up across countries) and rounding each day and country's revenue half-up to cents,
  as gold does per day, country and category;
- money is exact: the bases' money columns are DECIMAL(.., 2), the roll-ups sum them as integer
  cents (`rollup.py`) and answers carry `Decimal`s, which the API writes as JSON numbers with two
  decimals; averages are rounded half-up to cents from the exact sum (`per`);
- the funnel has no country: the country filter does not apply to it;
- actual versus target compares `gold.daily_sales` by month with `silver.sales_targets`; a month
  with revenue and no target (or the reverse) is kept with a null on the missing side.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pyarrow as pa

from lakehouse.serving.rollup import Frame, Row

COUNTRY = re.compile(r"\A[A-Z]{2}\Z")
CHURN_TABLE = "gold.customer_churn_scores"
MONITORING_TABLE = "gold.model_monitoring"
CHURN_BINS = 10
MONITORING_ROWS = 50


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


@dataclass(frozen=True)
class Base:
    """A pre-aggregate: Spark SQL over `table`, with the columns a date range and countries filter."""

    name: str
    table: str
    sql: str
    date: str | None = None
    country: str | None = None

    def frame(self, result: pa.Table) -> Frame:
        """`result` (this base's SQL, run) as a frame filtered on this base's columns."""
        return Frame(result, date=self.date, country=self.country)


def _base(name: str, table: str, sql: str, date: str | None = None, country: str | None = None) -> Base:
    return Base(name, table, " ".join(sql.split()), date, country)


SALES = _base(
    "sales", "gold.daily_sales",
    "SELECT order_date, country, category, revenue_eur, units FROM gold.daily_sales",
    date="order_date", country="country",
)
ORDERS = _base(
    "orders", "silver.order_lines",
    """SELECT order_date, country, ROUND(SUM(net_amount_eur), 2) AS revenue_eur, COUNT(DISTINCT order_id) AS orders
    FROM silver.order_lines WHERE status <> 'cancelled' GROUP BY order_date, country""",
    date="order_date", country="country",
)
FUNNEL = _base(
    "funnel", "gold.funnel_daily",
    "SELECT event_date, sessions, cart_sessions, checkout_sessions, orders FROM gold.funnel_daily",
    date="event_date",
)
COLD_CHAIN = _base(
    "cold_chain", "gold.cold_chain_daily",
    "SELECT reading_date, device_id, excursions, minutes_above_limit, max_temp_c FROM gold.cold_chain_daily",
    date="reading_date",
)
MONTHLY_SALES = _base(
    "monthly_sales", "gold.daily_sales",
    """SELECT order_date, country, SUBSTRING(CAST(order_date AS STRING), 1, 7) AS month,
    SUM(revenue_eur) AS revenue_eur FROM gold.daily_sales GROUP BY 1, 2, 3""",
    date="order_date", country="country",
)
TARGETS = _base(
    "targets", "silver.sales_targets", "SELECT country, month, target_revenue_eur FROM silver.sales_targets",
    country="country",
)
CHURN = _base(
    "churn", CHURN_TABLE,
    f"""SELECT LEAST(FLOOR(churn_probability * {CHURN_BINS}), {CHURN_BINS - 1}) / {CHURN_BINS} AS bucket_start,
    COUNT(*) AS customers FROM {CHURN_TABLE} WHERE churn_probability IS NOT NULL GROUP BY 1 ORDER BY 1""",
)
MONITORING = _base(  # the latest runs first: the table keeps every run's rows
    "monitoring", MONITORING_TABLE,
    f"SELECT * FROM {MONITORING_TABLE} ORDER BY monitored_at DESC, kind, metric LIMIT {MONITORING_ROWS}",
)
DATE_RANGE = _base(
    "date_range", "gold.daily_sales",
    "SELECT MIN(order_date) AS start, MAX(order_date) AS end, SORT_ARRAY(COLLECT_SET(country)) AS countries "
    "FROM gold.daily_sales",
)

Answer = Callable[[Mapping[str, Frame], Filters], list[Row]]


@dataclass(frozen=True)
class Kpi:
    """What a KPI reads (`bases`) and how a request's filters turn them into rows (`answer`)."""

    name: str
    bases: tuple[Base, ...]
    answer: Answer

    @property
    def tables(self) -> frozenset[str]:
        return frozenset(base.table for base in self.bases)


def _window(filters: Filters, countries: bool = True) -> dict[str, Any]:
    return {"start": filters.start, "end": filters.end, "countries": filters.countries if countries else ()}


def _round(value: Any, digits: int = 2) -> Any:
    """`value` rounded to `digits` decimals: half-up for a Decimal (money), as `round` for a float."""
    if isinstance(value, Decimal):
        return value.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    return None if value is None else round(value, digits)


def per(amount: Decimal | None, count: int | None) -> Decimal | None:
    """`amount / count` (cents by a whole count) rounded half-up to cents, exactly; None when either
    is None or the count is 0."""
    if amount is None or not count:
        return None
    cents = int(amount.scaleb(2).to_integral_value())
    whole = (2 * abs(cents) + count) // (2 * count)
    return Decimal(whole if cents >= 0 else -whole).scaleb(-2)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    """`numerator / NULLIF(denominator, 0)`, null when either side is."""
    return None if numerator is None or not denominator else numerator / denominator


def _last_nulls(value: Any) -> tuple[bool, Any]:
    return (value is None, value)


def _largest_first(value: float | None) -> tuple[bool, float]:
    return (value is None, -(value or 0))


REVENUE_DIMENSIONS = ("order_date", "country", "category")


def revenue_by(dimension: str) -> Kpi:
    """Revenue (EUR) and units per day, country or category: by day in date order, else largest first."""
    if dimension not in REVENUE_DIMENSIONS:
        raise ValueError(f"dimension must be one of {REVENUE_DIMENSIONS}, not '{dimension}'")

    def answer(frames: Mapping[str, Frame], filters: Filters) -> list[Row]:
        rows = frames["sales"].rollup(by=[dimension], sums=["revenue_eur", "units"], **_window(filters))
        for row in rows:
            row["revenue_eur"] = _round(row["revenue_eur"])
        if dimension == "order_date":
            return sorted(rows, key=lambda r: r["order_date"])
        return sorted(rows, key=lambda r: (_largest_first(r["revenue_eur"]), _last_nulls(r[dimension])))

    return Kpi(f"revenue_by_{dimension}", (SALES,), answer)


def _average_order_value(frames: Mapping[str, Frame], filters: Filters) -> list[Row]:
    rows = frames["orders"].rollup(by=["order_date"], sums=["revenue_eur", "orders"], **_window(filters))
    out = [{"order_date": r["order_date"], "revenue_eur": _round(r["revenue_eur"]), "orders": r["orders"],
            "avg_order_value_eur": per(r["revenue_eur"], r["orders"])} for r in rows]
    return sorted(out, key=lambda r: r["order_date"])


AVERAGE_ORDER_VALUE = Kpi("average_order_value", (ORDERS,), _average_order_value)
"""Per day: revenue, distinct non-cancelled orders and revenue per order."""

FUNNEL_STEPS = ("sessions", "cart_sessions", "checkout_sessions", "orders")


def _funnel(frames: Mapping[str, Frame], filters: Filters) -> list[Row]:
    (row,) = frames["funnel"].rollup(sums=FUNNEL_STEPS, **_window(filters, countries=False))
    return [{
        **row,
        "view_to_cart_rate": _ratio(row["cart_sessions"], row["sessions"]),
        "cart_to_checkout_rate": _ratio(row["checkout_sessions"], row["cart_sessions"]),
        "checkout_to_order_rate": _ratio(row["orders"], row["checkout_sessions"]),
        "session_to_order_rate": _ratio(row["orders"], row["sessions"]),
    }]


FUNNEL_CONVERSION = Kpi("funnel", (FUNNEL,), _funnel)
"""Sessions reaching each step over the range, and the conversion between steps (no country)."""


def _cold_chain(frames: Mapping[str, Frame], filters: Filters) -> list[Row]:
    rows = frames["cold_chain"].rollup(by=["device_id"], sums=["excursions", "minutes_above_limit"],
                                       maxes=["max_temp_c"], **_window(filters, countries=False))
    for row in rows:
        row["minutes_above_limit"] = _round(row["minutes_above_limit"])
    return sorted(rows, key=lambda r: (_largest_first(r["excursions"]), _last_nulls(r["device_id"])))


COLD_CHAIN_EXCURSIONS = Kpi("cold_chain", (COLD_CHAIN,), _cold_chain)
"""Per device: excursions, minutes above the limit and the warmest reading over the range."""


def _actual_vs_target(frames: Mapping[str, Frame], filters: Filters) -> list[Row]:
    actual = {
        (r["country"], r["month"]): _round(r["revenue_eur"])
        for r in frames["monthly_sales"].rollup(by=["country", "month"], sums=["revenue_eur"], **_window(filters))
    }
    first, last = f"{filters.start:%Y-%m}", f"{filters.end:%Y-%m}"
    wanted = set(filters.countries)
    target = {
        (r["country"], r["month"]): r["target_revenue_eur"] for r in frames["targets"].rows()
        if r["month"] is not None and first <= r["month"] <= last and (not wanted or r["country"] in wanted)
    }
    rows = []
    for country, month in sorted(actual.keys() | target.keys(), key=lambda k: (_last_nulls(k[1]), _last_nulls(k[0]))):
        revenue, goal = actual.get((country, month)), target.get((country, month))
        rows.append({"country": country, "month": month, "revenue_eur": revenue, "target_revenue_eur": goal,
                     "attainment": _round(_ratio(None if revenue is None else float(revenue), goal), 4)})
    return rows


ACTUAL_VS_TARGET = Kpi("actual_vs_target", (MONTHLY_SALES, TARGETS), _actual_vs_target)
"""Per country and month (`YYYY-MM`): actual revenue, target and actual / target."""


def _as_is(base: Base) -> Kpi:
    """A KPI with no filters: its base is the answer."""
    return Kpi(base.name, (base,), lambda frames, filters: frames[base.name].rows())


CHURN_DISTRIBUTION = _as_is(CHURN)
"""Customers per churn-probability bucket of width 1 / 10 (the last bucket includes 1.0)."""
MODEL_MONITORING = _as_is(MONITORING)
"""Rows of the model monitoring table, as written, the latest run's first."""
SALES_DATE_RANGE = _as_is(DATE_RANGE)
"""First and last order date in gold.daily_sales, and its countries (the dashboard's defaults)."""
