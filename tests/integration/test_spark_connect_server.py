"""Apache Spark's own Spark Connect server, started by the project with Delta: a stock PySpark
Connect client (in its own process) creates, fills and reads back a Delta table with SQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse import connect_server
from lakehouse.cli import app

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
