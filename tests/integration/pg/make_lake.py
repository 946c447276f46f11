"""A small lake for the PostgreSQL endpoint's tests: two served gold tables, a hidden one and a
silver one, written with delta-rs (the endpoint and the tests' Spark read them as any lake)."""

from __future__ import annotations

import datetime as dt
import decimal
import sys
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

COUNTRIES = ["DE", "FR", "NL", "ZZ"]


def daily_sales() -> pa.Table:
    rows = []
    for day in range(20):
        for n, country in enumerate(COUNTRIES):
            for category in ("books", "garden"):
                orders = 1 + (day * 7 + n * 3 + len(category)) % 11
                revenue = decimal.Decimal(orders * 1234 + day * 17 + n).scaleb(-2)
                rows.append({"order_date": dt.date(2026, 3, 1) + dt.timedelta(days=day), "country": country,
                             "category": category, "orders": orders, "units": orders * 2 + n,
                             "revenue_eur": revenue, "avg_order_value_eur": (revenue / orders).quantize(
                                 decimal.Decimal("0.01"))})
    schema = pa.schema([
        pa.field("order_date", pa.date32(), metadata={"comment": "day of the order (UTC)"}),
        pa.field("country", pa.string()), pa.field("category", pa.string()), pa.field("orders", pa.int64()),
        pa.field("units", pa.int64()), pa.field("revenue_eur", pa.decimal128(18, 2)),
        pa.field("avg_order_value_eur", pa.decimal128(18, 2))])
    return pa.Table.from_pylist(rows, schema)


def model_monitoring() -> pa.Table:
    at = dt.datetime(2026, 3, 20, 6, 30, tzinfo=dt.UTC)
    return pa.table({"run_at": pa.array([at, at], pa.timestamp("us", tz="UTC")), "metric": ["auc", "psi"],
                     "value": pa.array([0.81, 0.07], pa.float64()), "alert": [False, True],
                     "rows": pa.array([120, 120], pa.int32())})


def write(lake: Path) -> None:
    write_deltalake(str(lake / "gold" / "daily_sales"), daily_sales())
    write_deltalake(str(lake / "gold" / "model_monitoring"), model_monitoring())
    write_deltalake(str(lake / "gold" / "customer_segments"), pa.table({"email": ["a@example.com"], "segment": ["x"]}))
    write_deltalake(str(lake / "silver" / "customers"), pa.table({"customer_id": [1], "email": ["a@example.com"]}))


if __name__ == "__main__":
    write(Path(sys.argv[1]))
