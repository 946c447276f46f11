"""Describing tables and the messages of `lakehouse sql` and `lakehouse dq report`, as users call
them, on this run's engine. Expected values come from the Delta tables read with delta-rs
(`deltalake`), rows by counting them, and from the data contract written out here."""

from __future__ import annotations

import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from lakehouse import catalog
from lakehouse.cli import app
from lakehouse.config import Config
from lakehouse.gold import daily_sales

pytestmark = pytest.mark.integration
runner = CliRunner()
# Delta's names of primitive types -> Spark SQL's (decimals are written alike)
SQL_TYPES = {
    "long": "bigint",
    "integer": "int",
    "short": "smallint",
    "byte": "tinyint",
    "string": "string",
    "double": "double",
    "float": "float",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ntz": "timestamp_ntz",
    "binary": "binary",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, built_world: Config) -> Path:
    """A private copy of the session's built world (`dq report` writes its Data Docs)."""
    root = tmp_path_factory.mktemp("describe") / "world"
    shutil.copytree(built_world.data_dir, root)
    return root


def _invoke(engine: str, data_dir: Path, *args: str):
    return runner.invoke(
        app, ["--env", "test", "--engine", engine, "--data-dir", str(data_dir), *args], env={"COLUMNS": "160"}
    )


def _delta(data_dir: Path, table: str) -> DeltaTable:
    layer, name = table.split(".")
    return DeltaTable(str(data_dir / "lake" / layer / name))


def _columns(data_dir: Path, table: str) -> list[tuple[str, str]]:
    """(name, Spark SQL type) of each column, from the Delta log read by delta-rs."""
    out = []
    for field in _delta(data_dir, table).schema().fields:
        kind = field.type.type  # PrimitiveType: 'long', 'decimal(18,2)', ...
        out.append((field.name, SQL_TYPES.get(kind, kind)))
    return out


def _first_line(result) -> str:  # noqa: ANN001
    return result.output.splitlines()[0]


def _csv(result) -> pd.DataFrame:  # noqa: ANN001
    return pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)


@pytest.mark.parametrize(
    ("table", "layout", "job"),
    [
        ("gold.daily_sales", "not partitioned", "gold_daily_sales"),
        ("silver.order_lines", "partitioned by order_date", "silver_order_lines"),
    ],
)
def test_describe_prints_columns_partitioning_rows_version_and_writer(
    engine: str, data_dir: Path, table: str, layout: str, job: str
) -> None:
    delta = _delta(data_dir, table)
    rows, version = delta.to_pyarrow_table().num_rows, delta.version()
    result = _invoke(engine, data_dir, "describe", table)
    assert result.exit_code == 0, result.output
    assert _first_line(result) == f"{table}: {rows:,} rows, Delta version {version}, {layout}, written by {job}"
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if line.startswith("│")]
    described = [(name, kind) for name, kind, _ in cells if name]  # a long comment folds onto lines of its own
    assert described == _columns(data_dir, table)
    assert all(comment for name, _, comment in cells if name), result.output


def test_describe_table_describe_and_show_columns_through_sql(engine: str, data_dir: Path) -> None:
    expected = _columns(data_dir, "gold.daily_sales")
    for statement in ("DESCRIBE TABLE gold.daily_sales", "DESCRIBE gold.daily_sales"):
        result = _invoke(engine, data_dir, "sql", "--format", "csv", statement)
        assert result.exit_code == 0, result.output
        assert _first_line(result) == "col_name,data_type,comment"
        frame = _csv(result)
        assert list(zip(frame.col_name, frame.data_type, strict=True)) == expected
        # the comments are the table's definition's
        assert list(frame.comment) == [daily_sales.SPEC.comments[name] for name, _ in expected]

    result = _invoke(engine, data_dir, "sql", "--format", "csv", "SHOW COLUMNS IN gold.daily_sales")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["col_name", *[name for name, _ in expected]]

    result = _invoke(engine, data_dir, "sql", "--format", "csv", "DESCRIBE silver.events")
    assert result.exit_code == 0, result.output
    names = list(_csv(result).col_name)
    assert names[names.index("# Partition Information") :] == ["# Partition Information", "# col_name", "event_date"]


def test_every_silver_and_gold_column_has_a_declared_comment(data_dir: Path) -> None:
    tables = [
        f"{layer}.{d.name}"
        for layer in ("silver", "gold")
        for d in (data_dir / "lake" / layer).iterdir()
        if (d / "_delta_log").is_dir()
    ]
    assert "gold.customer_segments" in tables and "silver.rejects" in tables
    for table in tables:
        declared = catalog.comments_of(table)
        assert set(declared) == {name for name, _ in _columns(data_dir, table)}, table
        assert all(comment.strip() for comment in declared.values()), table


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (("describe", "gold.nosuch"), "error: table gold.nosuch does not exist; `lakehouse tables` lists the tables"),
        (
            ("sql", "DESCRIBE TABLE gold.daily_sale"),
            "error: table gold.daily_sale does not exist; did you mean gold.daily_sales?",
        ),
        (
            ("sql", "SELECT * FROM gold.daily_sale"),
            "error: table gold.daily_sale does not exist; did you mean gold.daily_sales?",
        ),
        (
            ("sql", "SELECT count(*) AS n FROM platinum.daily_sales"),
            "error: table platinum.daily_sales does not exist; did you mean gold.daily_sales?",
        ),
        (
            ("dq", "report", "--table", "gold.nosuch"),
            "error: table gold.nosuch does not exist; `lakehouse tables` lists the tables",
        ),
    ],
)
def test_a_table_that_does_not_exist_is_named_with_the_closest_ones(
    engine: str, data_dir: Path, args: tuple[str, ...], first_line: str
) -> None:
    result = _invoke(engine, data_dir, *args)
    assert result.exit_code == 2, result.output
    assert _first_line(result) == first_line


def test_sql_json_writes_dates_as_dates_and_amounts_exactly(engine: str, data_dir: Path) -> None:
    sales = _delta(data_dir, "gold.daily_sales").to_pandas().sort_values(["order_date", "country", "category"])
    first = sales.iloc[0]
    query = (
        "SELECT order_date, CAST(order_date AS TIMESTAMP) AS day_start, revenue_eur FROM gold.daily_sales "
        "ORDER BY order_date, country, category LIMIT 1"
    )
    result = _invoke(engine, data_dir, "sql", "--format", "json", query)
    assert result.exit_code == 0, result.output
    day = pd.Timestamp(first.order_date).date().isoformat()
    assert _first_line(result).startswith(f'{{"order_date":"{day}","day_start":"{day}T00:00:00Z","revenue_eur":')
    assert json.loads(_first_line(result), parse_float=Decimal)["revenue_eur"] == Decimal(first.revenue_eur)


def test_sql_table_rounds_floats_and_prints_values_as_they_are(engine: str, tmp_path: Path) -> None:
    query = (
        "SELECT CAST(2 AS DOUBLE) / 3 AS two_thirds, CAST(0.1 AS DOUBLE) + CAST(0.2 AS DOUBLE) AS tenths, "
        "'[red]x' AS label"
    )
    result = _invoke(engine, tmp_path, "sql", query)  # reads no table: any data directory will do
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if line.startswith("│")]
    assert rows == [["0.666667", "0.3", "[red]x"]]


def test_dq_report_starts_with_a_summary(engine: str, data_dir: Path) -> None:
    results = _delta(data_dir, "ops.dq_results").to_pandas()
    newest = results.sort_values(["checked_at", "run_id"]).groupby("table").tail(1)[["table", "run_id"]]
    latest = results.merge(newest, on=["table", "run_id"])
    run_id = latest.sort_values(["checked_at", "run_id"]).run_id.iloc[-1]
    failed = latest[~latest.passed.astype(bool)]
    counts = {s: int((failed.severity == s).sum()) for s in ("critical", "warn", "reject")}

    result = _invoke(engine, data_dir, "dq", "report")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"{latest.table.nunique()} table(s) checked ({len(latest)} checks): {counts['critical']} failure(s), "
        f"{counts['warn']} warning(s), rows rejected under {counts['reject']} rule(s); newest run {run_id}"
    )
    docs = next(i for i, line in enumerate(lines) if line.startswith("  Data Docs: file://"))
    assert docs < 25, "the summary does not fit on one screen"
    assert Path(lines[docs].split("file://", 1)[1]).is_file()
    detail = next(i for i, line in enumerate(lines) if "latest checks of each table" in line)
    assert detail > docs
