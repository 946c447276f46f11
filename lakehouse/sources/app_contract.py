"""The app database's tables as the lakehouse reads them: columns, change column, key and the kind
of each column. A declaration only (no connection, no I/O): the extraction (`lakehouse.sources.app_db`),
bronze's shapes (`lakehouse.bronze.app_tables`) and the source schema checks
(`lakehouse.quality.source_schema`) all read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppTable:
    name: str
    columns: tuple[str, ...]
    change_column: str
    key: tuple[str, ...]
    integer_columns: tuple[str, ...] = ()
    real_columns: tuple[str, ...] = ()
    timestamp_columns: tuple[str, ...] = ()


APP_TABLES: dict[str, AppTable] = {
    t.name: t
    for t in (
        AppTable(
            "customers",
            ("customer_id", "email", "name", "country", "address", "created_at", "updated_at"),
            "updated_at",
            ("customer_id",),
            integer_columns=("customer_id",),
            timestamp_columns=("created_at", "updated_at"),
        ),
        AppTable(
            "products",
            ("product_id", "name", "category", "list_price_eur", "updated_at"),
            "updated_at",
            ("product_id",),
            integer_columns=("product_id",),
            real_columns=("list_price_eur",),
            timestamp_columns=("updated_at",),
        ),
        AppTable(
            "orders",
            ("order_id", "customer_id", "status", "currency", "order_ts", "updated_at"),
            "updated_at",
            ("order_id",),
            integer_columns=("order_id", "customer_id"),
            timestamp_columns=("order_ts", "updated_at"),
        ),
        AppTable(
            "order_items",
            ("order_id", "line_no", "product_id", "quantity", "unit_price", "discount", "updated_at"),
            "updated_at",
            ("order_id", "line_no"),
            integer_columns=("order_id", "line_no", "product_id", "quantity"),
            real_columns=("unit_price", "discount"),
            timestamp_columns=("updated_at",),
        ),
        AppTable(
            "erasure_requests",
            ("customer_id", "requested_at"),
            "requested_at",
            ("customer_id", "requested_at"),
            integer_columns=("customer_id",),
            timestamp_columns=("requested_at",),
        ),
    )
}
