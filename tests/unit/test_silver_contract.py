"""Every silver module against the contract: columns as docs/architecture.md lists them, keys,
partitions, and empty inputs giving empty outputs of the right shape."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from lakehouse.bronze import app_tables
from lakehouse.bronze import events as bronze_events
from lakehouse.bronze import fx_rates as bronze_fx
from lakehouse.bronze import sales_targets as bronze_targets
from lakehouse.bronze import telemetry as bronze_telemetry
from lakehouse.quality.event_time import unbound
from lakehouse.quality.rules import REJECT_COLUMNS, Built
from lakehouse.silver import customers, events, fx_rates, order_lines, orders, products, sales_targets, telemetry
from tests.unit.silver_rows import BOUNDS

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
MODULES = [customers, products, orders, order_lines, events, telemetry, fx_rates, sales_targets]


COLUMN = re.compile(r"\s*(\w+)(?: (\w+(?:\(\d+,\d+\))?))?\s*(?:,|$)")


def documented_columns() -> dict[str, tuple[list[str], list[str], dict[str, str]]]:
    """silver table → (key, columns, the types given) from the silver table in docs/architecture.md
    (a column may name its type: `unit_price decimal(18,2)`)."""
    out = {}
    for match in re.finditer(r"^\| `(silver\.\w+)` \| ([^|]*) \| `([^`]*)`", ARCHITECTURE.read_text(), re.M):
        key = [k.strip() for k in match.group(2).strip(" `").split(",") if k.strip()]
        columns = COLUMN.findall(match.group(3))
        out[match.group(1)] = (key, [name for name, _ in columns], {name: kind for name, kind in columns if kind})
    return out


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.SPEC.name)
def test_schema_key_and_partitions_match_the_architecture(module: ModuleType) -> None:
    key, columns, types = documented_columns()[module.SPEC.name]
    assert module.SPEC.schema.fieldNames() == columns
    assert types == {name: module.SPEC.schema[name].dataType.simpleString() for name in types}
    assert tuple(key) == module.SPEC.key
    assert set(module.SPEC.partition_by) <= set(columns)


def test_amounts_and_rates_are_documented_decimals() -> None:
    _, _, lines = documented_columns()["silver.order_lines"]
    assert {c: lines.get(c) for c in ("unit_price", "gross_amount", "fx_rate", "net_amount_eur")} == {
        "unit_price": "decimal(18,2)", "gross_amount": "decimal(22,6)", "fx_rate": "decimal(18,8)",
        "net_amount_eur": "decimal(18,10)",
    }
    assert documented_columns()["silver.fx_rates"][2] == {"rate": "decimal(18,8)"}


def empty(spark: SparkSession, schema: StructType) -> DataFrame:
    return spark.createDataFrame([], schema)


def build_on_empty(spark: SparkSession, module: ModuleType) -> Built:
    bronze = {
        customers: [app_tables.schema("customers"), app_tables.schema("erasure_requests")],
        products: [app_tables.schema("products")],
        orders: [app_tables.schema("orders")],
        order_lines: [
            app_tables.schema("order_items"),
            orders.SPEC.schema,
            products.SPEC.schema,
            customers.SPEC.schema,
            fx_rates.SPEC.schema,
        ],
        events: [bronze_events.SCHEMA],
        telemetry: [bronze_telemetry.SCHEMA],
        fx_rates: [bronze_fx.SCHEMA],
        sales_targets: [bronze_targets.SCHEMA],
    }[module]
    builder = getattr(module, "build_" + module.SPEC.short_name)
    options = {"bounds": BOUNDS} if unbound(module.SPEC.rules) else {}  # tables dated by their rows
    return builder(*[empty(spark, s) for s in bronze], **options)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.SPEC.name)
def test_empty_bronze_gives_empty_typed_outputs(spark: SparkSession, module: ModuleType) -> None:
    built = build_on_empty(spark, module)
    shape = [(f.name, f.dataType) for f in built.rows.schema.fields]
    assert shape == [(f.name, f.dataType) for f in module.SPEC.schema.fields]
    assert tuple(built.rejects.columns) == REJECT_COLUMNS
    assert built.rows.count() == 0 and built.rejects.count() == 0


def test_the_rejects_columns_are_what_a_job_writes(spark: SparkSession) -> None:
    import datetime as dt
    from types import SimpleNamespace

    from lakehouse.jobs.base import with_reject_columns
    from lakehouse.quality.rules import empty_rejects

    row = next(line for line in ARCHITECTURE.read_text().splitlines() if line.startswith("| `silver.rejects` |"))
    documented = [c.strip() for c in row.split("`")[3].split(",")]
    run = SimpleNamespace(run_id="r", started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # what it reads of a job
    written = with_reject_columns(empty_rejects(spark), run)  # type: ignore[arg-type]
    assert documented == written.columns
    assert tuple(written.columns[: len(REJECT_COLUMNS)]) == REJECT_COLUMNS
