"""What `lakehouse describe` and `lakehouse sql` read and write without an engine: the statements
answered from the catalog, the closest table names, unknown tables in a query, the declared column
comments, and how results are printed."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from types import ModuleType

import pyarrow as pa
import pytest

from lakehouse import catalog, sql_output
from lakehouse.gold import customer_churn_scores, model_monitoring

LAKE = [
    "bronze.events",
    "gold.cold_chain_daily",
    "gold.customer_features",
    "gold.daily_sales",
    "gold.funnel_daily",
    "silver.orders",
    "silver.telemetry",
    "bronze.telemetry",
]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("DESCRIBE TABLE gold.daily_sales", ("gold.daily_sales", "describe")),
        ("describe gold.daily_sales;", ("gold.daily_sales", "describe")),
        ("DESC `gold`.`daily_sales`", ("`gold`.`daily_sales`", "describe")),
        ("DESCRIBE TABLE EXTENDED gold.daily_sales", ("gold.daily_sales", "extended")),
        ("DESCRIBE FORMATTED spark_catalog.gold.daily_sales", ("spark_catalog.gold.daily_sales", "extended")),
        ("SHOW COLUMNS IN gold.daily_sales", ("gold.daily_sales", "columns")),
        ("show columns from daily_sales in gold", ("gold.daily_sales", "columns")),
        ("DESCRIBE DATABASE gold", None),
        ("DESCRIBE QUERY SELECT 1", None),
        ("DESCRIBE gold.daily_sales order_date", None),
        ("SELECT * FROM gold.daily_sales", None),
        ("SHOW TABLES IN gold", None),
    ],
)
def test_describe_statements_are_recognised(sql: str, expected: tuple[str, str] | None) -> None:
    found = catalog.parse_describe(sql)
    assert (None if found is None else (found.table, found.kind)) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("gold.daily_sales", "gold.daily_sales"),
        ("GOLD.Daily_Sales", "gold.daily_sales"),
        ("`gold`.`daily_sales`", "gold.daily_sales"),
        ("spark_catalog.gold.daily_sales", "gold.daily_sales"),
    ],
)
def test_a_table_is_resolved_whatever_its_spelling(typed: str, expected: str) -> None:
    assert catalog.resolve(typed, LAKE) == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("gold.daily_sale", "table gold.daily_sale does not exist; did you mean gold.daily_sales?"),
        ("platinum.daily_sales", "table platinum.daily_sales does not exist; did you mean gold.daily_sales?"),
        ("silver.telemtry", "table silver.telemtry does not exist; did you mean silver.telemetry or bronze.telemetry?"),
        ("gold.nosuch", "table gold.nosuch does not exist; `lakehouse tables` lists the tables"),
        ("daily_sales", "table daily_sales does not exist; did you mean gold.daily_sales?"),
    ],
)
def test_an_unknown_table_is_named_as_typed_with_the_closest_ones(typed: str, message: str) -> None:
    with pytest.raises(catalog.UnknownTable) as raised:
        catalog.resolve(typed, LAKE)
    assert str(raised.value) == message


def test_an_unknown_table_can_be_named_with_every_table_of_the_lake() -> None:
    with pytest.raises(catalog.UnknownTable) as raised:
        catalog.resolve("../gold.daily_sale", ["gold.daily_sales", "silver.orders"], list_known=True)
    assert str(raised.value) == ("table ../gold.daily_sale does not exist; did you mean gold.daily_sales? "
                                 "The lake's tables: gold.daily_sales, silver.orders")
    with pytest.raises(catalog.UnknownTable) as raised:
        catalog.resolve("gold.daily_sales", [], list_known=True)
    assert str(raised.value) == ("table gold.daily_sales does not exist; the lake has no tables yet "
                                 "(`lakehouse run` builds them)")


@pytest.mark.parametrize(
    ("sql", "unknown"),
    [
        (
            "SELECT * FROM platinum.daily_sales p JOIN gold.daily_sale d USING (x)",
            ["platinum.daily_sales", "gold.daily_sale"],
        ),
        ("SELECT t.revenue_eur FROM gold.daily_sales t", []),
        ("WITH recent AS (SELECT 1) SELECT * FROM recent", []),
        ("SELECT * FROM delta.`/tmp/lake/gold/daily_sales`", []),
        ("SELECT * FROM range(10)", []),
        ("SELECT * FROM Gold.Daily_Sale", ["Gold.Daily_Sale"]),
        ("SELEC 1", []),
    ],
)
def test_unknown_tables_of_a_query(sql: str, unknown: list[str]) -> None:
    assert catalog.unknown_tables(sql, LAKE) == unknown


@pytest.mark.parametrize("module", [customer_churn_scores, model_monitoring], ids=lambda m: m.SPEC.name)
def test_comments_are_declared_for_every_column_of_a_declared_schema(module: ModuleType) -> None:
    # tables the pipeline does not write (the churn model's): checked against their schema here,
    # the others against the built world's tables (tests/integration/test_describe.py)
    assert list(catalog.comments_of(module.SPEC.name)) == module.SPEC.schema.fieldNames()
    assert all(comment.strip() for comment in catalog.comments_of(module.SPEC.name).values())


def test_writers_come_from_the_job_catalogue_and_the_commands() -> None:
    assert catalog.writer_of("gold.daily_sales") == "gold_daily_sales"
    assert catalog.writer_of("silver.rejects") == "every silver job"
    assert catalog.writer_of("gold.customer_churn_scores") == "lakehouse score"
    assert catalog.writer_of("bronze.telemetry") == "bronze_telemetry, lakehouse stream telemetry"


def test_describe_rows_are_spark_s_with_the_partition_columns_after() -> None:
    columns = (
        catalog.ColumnInfo("event_id", "string", True, "the event"),
        catalog.ColumnInfo("event_date", "date", True, None),
    )
    table = catalog.TableDescription(
        "silver.events",
        "/lake/silver/events",
        columns,
        ("event_date",),
        ("event_id",),
        3,
        7,
        dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        "silver_events",
    )
    assert catalog.describe_result(table, "describe").to_pylist() == [
        {"col_name": "event_id", "data_type": "string", "comment": "the event"},
        {"col_name": "event_date", "data_type": "date", "comment": None},
        {"col_name": "# Partition Information", "data_type": "", "comment": ""},
        {"col_name": "# col_name", "data_type": "data_type", "comment": "comment"},
        {"col_name": "event_date", "data_type": "date", "comment": None},
    ]
    assert catalog.describe_result(table, "columns").column("col_name").to_pylist() == ["event_id", "event_date"]
    extended = {r["col_name"]: r["data_type"] for r in catalog.describe_result(table, "extended").to_pylist()}
    assert extended["Rows"] == "3" and extended["Delta version"] == "7" and extended["Written by"] == "silver_events"
    assert (
        table.headline()
        == "silver.events: 3 rows, Delta version 7, partitioned by event_date, written by silver_events"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2 / 3, "0.666667"),
        (0.1 + 0.2, "0.3"),
        (196599.98000000004, "196599.98"),
        (3.0, "3.0"),
        (0.0, "0.0"),
        (-1.25, "-1.25"),
        (1e-9, "1e-09"),
        (1.5e20, "1.5e+20"),
        (float("nan"), "nan"),
    ],
)
def test_floats_in_the_table_format_are_rounded(value: float, text: str) -> None:
    assert sql_output.float_text(value) == text


def test_json_lines_write_dates_as_dates_and_decimals_exactly() -> None:
    table = pa.table(
        {
            "order_date": pa.array([dt.date(2026, 4, 30)], pa.date32()),
            "ts": pa.array([dt.datetime(2026, 4, 30, 10, 5)], pa.timestamp("us", tz="UTC")),
            "revenue_eur": pa.array([Decimal("12.50")], pa.decimal128(18, 2)),
            "rate": [float("nan")],
            "n": pa.array([None], pa.int64()),
        }
    )
    line = sql_output.json_lines(table)
    assert line == '{"order_date":"2026-04-30","ts":"2026-04-30T10:05:00Z","revenue_eur":12.50,"rate":null,"n":null}\n'
    assert json.loads(line)["order_date"] == "2026-04-30"


def test_table_cells_and_csv() -> None:
    table = pa.table(
        {
            "d": pa.array([dt.date(2026, 4, 30), None], pa.date32()),
            "ts": pa.array([dt.datetime(2026, 4, 30, 10, 5), None], pa.timestamp("us", tz="UTC")),
            "x": [2 / 3, None],
            "m": pa.array([Decimal("1.10"), None], pa.decimal128(18, 2)),
        }
    )
    assert sql_output.table_cells(table) == [
        ["2026-04-30", "2026-04-30 10:05:00", "0.666667", "1.10"],
        ["", "", "", ""],
    ]
    assert sql_output.csv_text(table).splitlines() == [
        "d,ts,x,m",
        "2026-04-30,2026-04-30 10:05:00,0.6666666666666666,1.10",
        ",,,",
    ]
