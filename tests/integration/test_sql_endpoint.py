"""The Spark SQL endpoint of `lakehouse serve` as clients meet it: stock PySpark over Spark Connect,
in a process of its own, against a real server on a copy of the built world. A client needs an API
key and may only read the served gold tables; every attempt to do more is refused before it
reaches the engine. Expected rows come from the Delta files read with delta-rs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from deltalake import DeltaTable

from lakehouse.config import Config
from lakehouse.daemons import free_port

pytestmark = pytest.mark.integration
KEY, OTHER_KEY = "sql-key-1", "sql-key-2"
REPO = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("connect_client.py")
REFUSED = "refused by the lakehouse SQL endpoint"
GOLD_READS = ["sql_gold", "dataframe_gold", "select_expr_gold", "show_gold", "schema_gold", "list_gold"]
# every attempt of the client that must be refused, and a word the refusal names
ATTACKS = {
    "bronze_sql": "bronze.customers", "silver_table": "silver.customers",
    "bronze_delta_path": "delta.", "silver_read_path": "reading files", "hidden_sql": "gold.customer_segments",
    "hidden_table": "gold.customer_segments", "passwd_read_text": "reading files", "passwd_sql_text": "text.",
    "app_db_read_text": "reading files", "drop_table": "DROP", "replace_view": "CREATE",
    "replace_global_view": "CREATE", "replace_view_dataframe": "temporary views",
    "drop_view_catalog": "drop_global_temp_view", "delete_rows": "DELETE", "create_table_location": "CREATE",
    "write_path": "writing", "set_sql": "SET", "set_conf": "settings", "temp_view_sql": "CREATE",
    "temp_view_dataframe": "temporary views", "reflect_function": "reflect", "java_method_expr": "java_method",
    "input_file_name": "input_file_name", "python_udf": "user-defined", "add_artifact": "artifacts",
}


class Endpoint:
    def __init__(self, data_dir: Path, api_port: int, sql_port: int, log: Path) -> None:
        self.data_dir, self.api_port, self.sql_port, self.log = data_dir, api_port, sql_port, log

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    def url(self, token: str | None = KEY) -> str:
        return f"sc://localhost:{self.sql_port}" + (f"/;token={token}" if token is not None else "")

    def run(self, url: str, names: list[str] | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
        """The client's answers by attempt name."""
        args = [sys.executable, str(CLIENT), url, str(self.lake), str(self.data_dir / "sources" / "app.db")]
        result = subprocess.run([*args, ",".join(names)] if names else args, capture_output=True, text=True,
                                timeout=600, env={**os.environ, "SPARK_REMOTE": "", **(env or {})})
        assert result.returncode == 0, result.stderr[-3000:]
        answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"name"')]
        return {a["name"]: a for a in answers}

    def table(self, name: str) -> pd.DataFrame:
        layer, _, table = name.partition(".")
        return DeltaTable(str(self.lake / layer / table)).to_pandas()

    def versions(self) -> dict[str, int]:
        return {f"{log.parent.parent.name}.{log.parent.name}": DeltaTable(str(log.parent)).version()
                for log in sorted(self.lake.glob("*/*/_delta_log"))}


def _start(data_dir: Path, engine: str, env: dict[str, str], *extra: str) -> tuple[Endpoint, subprocess.Popen[bytes]]:
    api_port, sql_port = free_port(), free_port()
    args = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--engine", engine,
            "--data-dir", str(data_dir), "serve", "--port", str(api_port), "--sql-port", str(sql_port), *extra]
    log = data_dir.parent / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if "Ctrl-C to stop" in log.read_text(errors="replace"):
            break
        time.sleep(0.3)
    else:
        process.kill()
        raise AssertionError(f"server did not start: {log.read_text(errors='replace')[-3000:]}")
    return Endpoint(data_dir, api_port, sql_port, log), process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def endpoint(built_world: Config, engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    data_dir = tmp_path_factory.mktemp("sql-endpoint") / "world"
    shutil.copytree(built_world.data_dir, data_dir)
    srv, process = _start(data_dir, engine, {"LAKEHOUSE_API_KEYS": f"{KEY},{OTHER_KEY}"})
    yield srv
    _stop(process)


@pytest.fixture(scope="module")
def answers(endpoint: Endpoint) -> dict[str, Any]:
    """Every attempt of the client, with a valid key, in one client process."""
    before = endpoint.versions()
    found = endpoint.run(endpoint.url())
    assert endpoint.versions() == before  # no attempt changed a table
    return found


def _units_by_country(sales: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in sales.groupby("country")["units"].sum().items()}


@pytest.mark.parametrize("token", [None, "wrong-key", ""])
def test_a_missing_or_wrong_key_is_refused(endpoint: Endpoint, token: str | None) -> None:
    got = endpoint.run(endpoint.url(token), ["sql_gold", "passwd_read_text"])
    for name in ("sql_gold", "passwd_read_text"):
        assert not got[name]["ok"]
        assert "missing API key" in got[name]["error"] or "API key not accepted" in got[name]["error"], got[name]


def test_gold_reads_need_a_key_and_give_the_delta_rows(endpoint: Endpoint, answers: dict) -> None:
    unkeyed = endpoint.run(endpoint.url(None), GOLD_READS)
    assert all(not unkeyed[name]["ok"] and "missing API key" in unkeyed[name]["error"] for name in GOLD_READS), unkeyed
    sales = endpoint.table("gold.daily_sales")
    want = _units_by_country(sales)
    for name in GOLD_READS:
        assert answers[name]["ok"], answers[name]
    assert {r["country"]: r["units"] for r in answers["sql_gold"]["rows"]} == want
    assert {r["country"]: r["units"] for r in answers["dataframe_gold"]["rows"]} == want
    assert answers["select_expr_gold"]["rows"] == int((sales.units * 2 > 0).sum())
    assert answers["show_gold"]["rows"].count("\n|") == 3  # the header and two rows
    assert answers["schema_gold"]["rows"].startswith("struct<order_date:date,country:string")
    visible = sorted(p.name for p in (endpoint.lake / "gold").iterdir() if (p / "_delta_log").is_dir())
    assert answers["list_gold"]["rows"] == [t for t in visible if t != "customer_segments"]


def test_the_other_key_works_too(endpoint: Endpoint) -> None:
    got = endpoint.run(endpoint.url(OTHER_KEY), ["sql_gold"])["sql_gold"]
    assert got["ok"], got
    assert {r["country"]: r["units"] for r in got["rows"]} == _units_by_country(endpoint.table("gold.daily_sales"))


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_everything_but_reading_gold_is_refused_with_the_reason(answers: dict, name: str) -> None:
    got = answers[name]
    assert not got["ok"], got
    assert REFUSED in got["error"] and ATTACKS[name] in got["error"], got["error"]


def test_refused_attempts_leave_the_lake_and_the_rest_api_as_they_were(endpoint: Endpoint, answers: dict) -> None:
    assert not (endpoint.lake / "gold" / "stolen").exists()
    sales = endpoint.table("gold.daily_sales")
    response = httpx.post(f"http://127.0.0.1:{endpoint.api_port}/sql", json={"query": "SELECT COUNT(*) AS n FROM "
                          "gold.daily_sales"}, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert response.json()["rows"] == [{"n": len(sales)}]
    again = endpoint.run(endpoint.url(), ["sql_gold"])["sql_gold"]  # the shared gold view is intact
    assert {r["country"]: r["units"] for r in again["rows"]} == _units_by_country(sales)


@pytest.fixture(scope="module")
def tls_endpoint(built_world: Config, engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    data_dir = tmp_path_factory.mktemp("sql-endpoint-tls") / "world"
    shutil.copytree(built_world.data_dir, data_dir)
    srv, process = _start(data_dir, engine, {"LAKEHOUSE_API_KEYS": KEY, "LAKEHOUSE_SERVING__SQL_TLS": "true"})
    yield srv
    _stop(process)


def test_over_tls_a_client_trusting_the_printed_ca_reads_gold(tls_endpoint: Endpoint) -> None:
    printed = tls_endpoint.log.read_text()
    ca = tls_endpoint.data_dir / "serving-tls" / "ca.pem"
    assert f"sc://127.0.0.1:{tls_endpoint.sql_port}/;use_ssl=true;token=<key>" in printed
    assert f"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH={ca}" in printed
    url = f"sc://127.0.0.1:{tls_endpoint.sql_port}/;use_ssl=true;token={KEY}"
    got = tls_endpoint.run(url, ["sql_gold", "passwd_read_text"], env={"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(ca)})
    assert {r["country"]: r["units"] for r in got["sql_gold"]["rows"]} == _units_by_country(
        tls_endpoint.table("gold.daily_sales"))
    assert REFUSED in got["passwd_read_text"]["error"]
    # plaintext, or TLS without trusting the CA, gets nothing
    once = {"CONNECT_CLIENT_NO_RETRY": "1"}
    plain = tls_endpoint.run(f"sc://localhost:{tls_endpoint.sql_port}/;token={KEY}", ["sql_gold"], once)["sql_gold"]
    untrusted = tls_endpoint.run(url, ["sql_gold"], once)["sql_gold"]
    assert not plain["ok"] and not untrusted["ok"]


@pytest.mark.parametrize(("env", "message"), [
    ({"LAKEHOUSE_API_KEYS": KEY}, "refusing to serve Spark SQL on 0.0.0.0 without TLS: set serving.sql_tls"),
    ({"LAKEHOUSE_API_KEYS": ""}, "refusing to listen on 0.0.0.0 without API keys"),
])
def test_listening_beyond_this_machine_without_keys_and_tls_is_refused_at_start(
        tmp_path: Path, engine: str, env: dict[str, str], message: str) -> None:
    args = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--engine", engine, "--data-dir",
            str(tmp_path), "serve", "--host", "0.0.0.0", "--port", str(free_port()), "--sql-port", str(free_port())]
    done = subprocess.run(args, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
