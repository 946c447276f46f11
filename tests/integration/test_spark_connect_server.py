"""Apache Spark's own Spark Connect server, started by the project with Delta: a stock PySpark
Connect client (in its own process) creates, fills and reads back a Delta table with SQL, and the
whole pipeline runs through `--engine connect` against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse import connect_server
from lakehouse.cli import app
from lakehouse.config import Config
from lakehouse.files import Location
from tests.integration import lakes

pytestmark = pytest.mark.integration
runner = CliRunner()

CLIENT = """
import json, sys
from pyspark.sql import SparkSession
url, location = sys.argv[1:]
spark = SparkSession.builder.remote(url).getOrCreate()
spark.sql(f"CREATE TABLE visits (id INT, page STRING) USING delta LOCATION '{location}'")
spark.sql("INSERT INTO visits VALUES (1, 'home'), (2, 'cart')")
print(json.dumps({
    "rows": [list(r) for r in spark.sql("SELECT id, page FROM visits ORDER BY id").collect()],
    "history": [r.operation for r in spark.sql("DESCRIBE HISTORY visits").orderBy("version").collect()],
    "time_zone": spark.conf.get("spark.sql.session.timeZone"),
}))
"""


def test_a_connect_client_writes_and_reads_a_delta_table(
    spark_connect_server: connect_server.ConnectServer, tmp_path: Path
) -> None:
    location = tmp_path / "visits"
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, spark_connect_server.url, str(location)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["rows"] == [[1, "home"], [2, "cart"]]
    assert answer["history"] == ["CREATE TABLE", "WRITE"]  # Delta's own SQL: the JVM's Delta, not Sail
    assert answer["time_zone"] == "UTC"
    assert (location / "_delta_log" / "00000000000000000001.json").is_file()


def test_a_second_start_from_a_running_server_folder_is_refused(
    spark_connect_server: connect_server.ConnectServer,
) -> None:
    folder = str(spark_connect_server.folder)
    result = runner.invoke(app, ["--env", "test", "connect-server", "start", "--data-dir", folder])
    assert result.exit_code == 2 and "is running from" in result.output


def test_stop_where_no_server_runs_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--env", "test", "connect-server", "stop", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "no Spark Connect server was running" in result.stdout


def test_the_pipeline_through_engine_connect_equals_the_embedded_run(
    spark_connect_server: connect_server.ConnectServer, small_world: Config, tmp_path: Path
) -> None:
    """`lakehouse --engine connect run` against the server (on loopback, so the lake is a local
    folder both reach): silver and gold equal, row by row, the same small world built by the embedded
    engine; the server's own Delta wrote them (MERGE and SQL on the engine, the `connect-spark`
    profile). Once per `make test`, in the pass the server fixture runs in (conftest.py)."""
    shutil.copytree(small_world.sources_dir, tmp_path / "sources")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "SPARK_"))}
    environ["LAKEHOUSE_ENGINE__CONNECT_URL"] = spark_connect_server.url
    done = lakes.lakehouse("connect", tmp_path, environ, "run", timeout=1500)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    lake = Location(tmp_path / "lake")
    lakes.assert_same_tables(lake, small_world.lake)
    for name in ("silver.customers", "silver.orders", "gold.daily_sales"):  # upserted, and rebuilt by date
        layer, table = name.split(".")
        writers = {commit.get("engineInfo", "") for commit in lakes.table(lake / layer / table).history()}
        assert writers and all(w.startswith("Apache-Spark/") for w in writers), (name, writers)
    # the server's catalog is every client's: the run left its tables there, by name, for the others
    from pyspark.sql import SparkSession

    other = SparkSession.builder.remote(spark_connect_server.url).create()
    try:
        assert all(other.catalog.tableExists(n) for n in ("silver.orders", "gold.daily_sales", "ops.job_runs"))
    finally:
        other.stop()


@pytest.fixture
def embedded_pass(engine: str) -> None:
    """Skips in any other pass before the fixtures after it are made (a world built on Spark)."""
    if engine != "embedded":
        pytest.skip("Apache Spark's Spark Connect server runs in its own JVM, whatever the pass: tested once, "
                    "in the embedded pass")


def test_a_server_started_for_a_lake_on_s3_reads_and_writes_it_with_no_key_on_its_command_line(
    embedded_pass: None, engine: str, small_world: Config, s3_server, tmp_path: Path
) -> None:
    """`lakehouse connect-server start` with the lake on the project's S3 server (LAKEHOUSE_LAKE_URI
    and the AWS_* variables, as a user's shell has them): the server gets S3A's jars and settings,
    its keys only through its environment; `--engine connect` then answers a gold query from the
    bucket and rebuilds a gold table there, equal row by row to the embedded engine's."""
    lake = lakes.lake_on_s3(small_world, s3_server, "connect")
    environ = lakes.env(s3_server, lake.parent)
    folder = tmp_path / "server"
    started = lakes.lakehouse("embedded", tmp_path, environ, "connect-server", "start", "--data-dir", str(folder),
                              timeout=600)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        pid = connect_server.running(folder)
        assert pid is not None
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert f"spark.hadoop.fs.s3a.endpoint={s3_server.endpoint}" in arguments
        assert any("hadoop-aws" in a for a in arguments)  # S3A's jars
        secret = environ["AWS_SECRET_ACCESS_KEY"]
        assert not any(secret in a for a in arguments)
        assert secret not in started.stdout + started.stderr + (folder / "connect.log").read_text()

        client = {**environ, "LAKEHOUSE_ENGINE__CONNECT_URL": started.stdout.strip().splitlines()[-1]}
        query = "SELECT count(*) AS n, sum(orders) AS orders FROM gold.daily_sales"
        answer = lakes.lakehouse("connect", tmp_path, client, "sql", "--format", "json", query, timeout=600)
        assert answer.returncode == 0, answer.stderr[-3000:]
        daily = lakes.table(lake / "gold" / "daily_sales").to_pandas()
        assert [json.loads(line) for line in answer.stdout.splitlines()] == [
            {"n": len(daily), "orders": int(daily["orders"].sum())}]

        rebuilt = lakes.lakehouse("connect", tmp_path, client, "run", "--full", "gold_daily_sales", timeout=900)
        assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
        table = lakes.table(lake / "gold" / "daily_sales")
        assert table.history(1)[0].get("engineInfo", "").startswith("Apache-Spark/")  # written by the server
        assert lakes.rows(lake / "gold" / "daily_sales") == lakes.rows(small_world.lake / "gold" / "daily_sales")
    finally:
        connect_server.stop(folder)
