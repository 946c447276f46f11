"""DuckDB reference: the lakehouse's silver and gold logic as plain DuckDB SQL.

`transform(lake_dir, out_dir)` reads the bronze Delta tables (through delta-rs, as Arrow), builds the
silver tables and the four gold tables with the same rules as `lakehouse/silver` and
`lakehouse/gold`, and writes the gold tables as Parquet. `ingest(sources_dir)` reads the sources
the way bronze does (app database, landing JSON with bad lines skipped) to give the ingestion a
reference too. Used by `benchmarks/pipeline.py`; not part of the product.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

BRONZE = ["customers", "erasure_requests", "products", "orders", "order_items", "events", "telemetry", "fx_rates"]

SILVER_SQL = {
    "customers": """
        WITH typed AS (
            SELECT customer_id,
                   CASE WHEN e.customer_id IS NULL THEN email END AS email,
                   CASE WHEN e.customer_id IS NULL THEN name END AS name,
                   country,
                   CASE WHEN e.customer_id IS NULL THEN address END AS address,
                   strptime(created_at, '%Y-%m-%d %H:%M:%S') AS created_at,
                   strptime(updated_at, '%Y-%m-%d %H:%M:%S') AS updated_at,
                   e.customer_id IS NOT NULL AS is_erased,
                   b.email AS raw_email, b.name AS raw_name, b.address AS raw_address
            FROM b_customers b LEFT JOIN (SELECT DISTINCT customer_id FROM b_erasure_requests) e USING (customer_id)
            WHERE regexp_full_match(country, '[A-Z]{2}')
        ), versions AS (
            SELECT *, lag(raw_email || '|' || raw_name || '|' || country || '|' || raw_address)
                      OVER (PARTITION BY customer_id ORDER BY updated_at) AS previous
            FROM typed
        ), changes AS (
            SELECT * FROM versions
            WHERE previous IS NULL OR previous <> raw_email || '|' || raw_name || '|' || country || '|' || raw_address
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY updated_at) AS n FROM changes
        )
        SELECT customer_id, email, name, country, address, created_at, updated_at,
               CASE WHEN n = 1 THEN created_at ELSE updated_at END AS valid_from,
               lead(updated_at) OVER (PARTITION BY customer_id ORDER BY updated_at) AS valid_to,
               lead(updated_at) OVER (PARTITION BY customer_id ORDER BY updated_at) IS NULL AS is_current,
               is_erased
        FROM ranked
    """,
    "products": """
        SELECT product_id, name, category, list_price_eur, strptime(updated_at, '%Y-%m-%d %H:%M:%S') AS updated_at
        FROM b_products
        QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY updated_at DESC, _ingested_at DESC) = 1
    """,
    "orders": """
        SELECT order_id, customer_id, status, currency,
               strptime(order_ts, '%Y-%m-%d %H:%M:%S') AS order_ts,
               CAST(strptime(order_ts, '%Y-%m-%d %H:%M:%S') AS DATE) AS order_date,
               strptime(updated_at, '%Y-%m-%d %H:%M:%S') AS updated_at
        FROM b_orders
        QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC, _ingested_at DESC) = 1
    """,
    "fx_rates": """
        SELECT CAST(date AS DATE) AS rate_date, currency, rate FROM b_fx_rates
        WHERE rate > 0
        QUALIFY row_number() OVER (PARTITION BY date, currency ORDER BY _ingested_at DESC) = 1
    """,
    "order_lines": """
        WITH items AS (
            SELECT * FROM b_order_items
            QUALIFY row_number() OVER (PARTITION BY order_id, line_no ORDER BY updated_at DESC, _ingested_at DESC) = 1
        )
        SELECT i.order_id, i.line_no, o.order_date, o.order_ts, o.status, o.customer_id,
               coalesce(c.country, 'ZZ') AS country, i.product_id, p.name AS product_name, p.category,
               o.currency, i.quantity, i.unit_price, i.discount,
               i.quantity * i.unit_price * (1 - i.discount) AS gross_amount, r.rate AS fx_rate,
               i.quantity * i.unit_price * (1 - i.discount) / r.rate AS net_amount_eur
        FROM items i
        JOIN s_orders o USING (order_id)
        JOIN s_products p USING (product_id)
        JOIN s_fx_rates r ON r.rate_date = o.order_date AND r.currency = o.currency
        LEFT JOIN s_customers c ON c.customer_id = o.customer_id AND c.valid_from <= o.order_ts
             AND (c.valid_to IS NULL OR o.order_ts < c.valid_to)
        WHERE i.quantity > 0 AND i.discount >= 0 AND i.discount < 1
    """,
    "events": """
        SELECT event_id, session_id, customer_id, event_type,
               strptime(ts, '%Y-%m-%dT%H:%M:%SZ') AS event_ts,
               CAST(strptime(ts, '%Y-%m-%dT%H:%M:%SZ') AS DATE) AS event_date, page, product_id, query, device
        FROM b_events
        WHERE event_type IN ('page_view', 'add_to_cart', 'checkout', 'search') AND session_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingested_at, _source, _line_no) = 1
    """,
    "telemetry": """
        SELECT device_id, seq, strptime(ts, '%Y-%m-%dT%H:%M:%SZ') AS reading_ts,
               CAST(strptime(ts, '%Y-%m-%dT%H:%M:%SZ') AS DATE) AS reading_date, temperature_c, humidity, battery_pct
        FROM b_telemetry
        WHERE temperature_c BETWEEN -40 AND 60 AND coalesce(battery_pct BETWEEN 0 AND 100, true)
              AND coalesce(humidity BETWEEN 0 AND 100, true)
        QUALIFY row_number() OVER (PARTITION BY device_id, seq ORDER BY _ingested_at, _source, _line_no) = 1
    """,
}

GOLD_SQL = {
    "daily_sales": """
        SELECT order_date, country, category, count(DISTINCT order_id) AS orders, sum(quantity) AS units,
               round(sum(net_amount_eur), 2) AS revenue_eur,
               round(sum(net_amount_eur), 2) / count(DISTINCT order_id) AS avg_order_value_eur
        FROM s_order_lines WHERE status <> 'cancelled' GROUP BY ALL
    """,
    "funnel_daily": """
        WITH steps AS (
            SELECT event_date, count(DISTINCT session_id) AS sessions,
                   count(*) FILTER (event_type = 'page_view') AS page_views,
                   count(*) FILTER (event_type = 'add_to_cart') AS add_to_cart,
                   count(*) FILTER (event_type = 'checkout') AS checkouts,
                   count(DISTINCT session_id) FILTER (event_type = 'add_to_cart') AS cart_sessions,
                   count(DISTINCT session_id) FILTER (event_type = 'checkout') AS checkout_sessions
            FROM s_events GROUP BY event_date
        ), daily AS (
            SELECT order_date AS event_date, count(DISTINCT order_id) AS orders
            FROM s_orders WHERE status <> 'cancelled' GROUP BY 1
        )
        SELECT event_date, coalesce(sessions, 0) AS sessions, coalesce(page_views, 0) AS page_views,
               coalesce(add_to_cart, 0) AS add_to_cart, coalesce(checkouts, 0) AS checkouts,
               coalesce(cart_sessions, 0) AS cart_sessions, coalesce(checkout_sessions, 0) AS checkout_sessions,
               coalesce(orders, 0) AS orders,
               cart_sessions / nullif(sessions, 0) AS view_to_cart_rate,
               checkout_sessions / nullif(cart_sessions, 0) AS cart_to_checkout_rate,
               orders / nullif(checkout_sessions, 0) AS checkout_to_order_rate,
               orders / nullif(sessions, 0) AS session_to_order_rate
        FROM steps FULL OUTER JOIN daily USING (event_date)
    """,
    "cold_chain_daily": """
        WITH r AS (
            SELECT *, temperature_c > 8.0 AS above,
                   (epoch(lead(reading_ts) OVER w) - epoch(reading_ts)) / 60.0 AS gap_after,
                   (epoch(reading_ts) - epoch(lag(reading_ts) OVER w)) / 60.0 AS gap_before,
                   lag(temperature_c > 8.0) OVER w AS previous_above
            FROM s_telemetry WINDOW w AS (PARTITION BY device_id ORDER BY reading_ts, seq)
        )
        SELECT reading_date, device_id, count(*) AS readings, min(temperature_c) AS min_temp_c,
               max(temperature_c) AS max_temp_c,
               round(sum(CASE WHEN above THEN least(coalesce(gap_after, 5.0), 5.0) ELSE 0 END), 2)
                   AS minutes_above_limit,
               sum(CASE WHEN above AND (previous_above IS NULL OR NOT previous_above OR gap_before > 15)
                        THEN 1 ELSE 0 END) AS excursions
        FROM r GROUP BY ALL
    """,
    "customer_features": """
        WITH as_of AS (SELECT max(order_date) AS d FROM s_orders),
        facts AS (
            SELECT customer_id, min(order_date) AS first_order_date, max(order_date) AS last_order_date,
                   count(DISTINCT order_id) FILTER (status <> 'cancelled') AS orders_count
            FROM s_orders, as_of WHERE order_date <= as_of.d AND customer_id IS NOT NULL GROUP BY customer_id
        ), value AS (
            SELECT customer_id, sum(net_amount_eur) AS v FROM s_order_lines, as_of
            WHERE order_date <= as_of.d AND status <> 'cancelled' GROUP BY customer_id
        ), sessions AS (
            SELECT customer_id, session_id, bool_or(event_type = 'add_to_cart') AS cart,
                   bool_or(event_type = 'checkout') AS checkout
            FROM s_events, as_of
            WHERE event_date > as_of.d - 30 AND event_date <= as_of.d AND customer_id IS NOT NULL GROUP BY ALL
        ), recent AS (
            SELECT customer_id, count(*) AS sessions_30d, count(*) FILTER (cart) AS carts,
                   count(*) FILTER (cart AND NOT checkout) AS abandoned
            FROM sessions GROUP BY customer_id
        )
        SELECT f.customer_id, first_order_date, last_order_date, orders_count,
               round(coalesce(v, 0), 2) AS lifetime_value_eur,
               round(coalesce(v, 0), 2) / nullif(orders_count, 0) AS avg_order_value_eur,
               as_of.d - last_order_date AS days_since_last_order, coalesce(sessions_30d, 0) AS sessions_30d,
               abandoned / nullif(carts, 0) AS cart_abandon_rate_30d, c.country, as_of.d AS as_of_date
        FROM facts f CROSS JOIN as_of LEFT JOIN value USING (customer_id) LEFT JOIN recent USING (customer_id)
        LEFT JOIN (SELECT customer_id, country FROM s_customers WHERE is_current) c USING (customer_id)
    """,
}


def transform(lake_dir: Path, out_dir: Path) -> dict[str, int]:
    """Bronze Delta tables -> silver -> gold Parquet files; returns gold row counts."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in BRONZE:
        path = lake_dir / "bronze" / name
        if (path / "_delta_log").is_dir():
            con.register(f"b_{name}", DeltaTable(str(path)).to_pyarrow_dataset())
    for name, sql in SILVER_SQL.items():
        con.execute(f"CREATE TABLE s_{name} AS {sql}")
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, sql in GOLD_SQL.items():
        con.execute(f"COPY ({sql}) TO '{out_dir / name}.parquet' (FORMAT parquet)")
        counts[name] = int(con.execute(f"SELECT count(*) FROM '{out_dir / name}.parquet'").fetchone()[0])
    con.close()
    return counts


def ingest(sources_dir: Path, out_dir: Path) -> dict[str, int]:
    """Read every source as bronze does (bad JSON lines skipped) into Parquet; returns row counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    counts = {}
    app = sqlite3.connect(sources_dir / "app.db")
    for table in ("customers", "products", "orders", "order_items", "erasure_requests"):
        cursor = app.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        arrow = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
        con.register(f"app_{table}", arrow)
        con.execute(f"COPY app_{table} TO '{out_dir / table}.parquet' (FORMAT parquet)")
        counts[table] = len(rows)
    for source in ("clickstream", "telemetry"):
        files = f"{sources_dir / source}/date=*/*.jsonl"
        con.execute(
            f"COPY (SELECT * FROM read_json('{files}', format='newline_delimited', ignore_errors=true, "
            f"filename=true)) TO '{out_dir / source}.parquet' (FORMAT parquet)"
        )
        counts[source] = int(con.execute(f"SELECT count(*) FROM '{out_dir / source}.parquet'").fetchone()[0])
    return counts


if __name__ == "__main__":
    import sys

    phase, source, target = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print(transform(source, target) if phase == "transform" else ingest(source, target))
