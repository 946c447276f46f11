"""The PostgreSQL endpoint of `lakehouse serve --pg-port` as clients meet it: psql, the PostgreSQL
JDBC driver (a one-file Java program) and psycopg, against one real server per test run on a small
lake. Expected answers come from Spark SQL on the lake's Delta files, run by the tests' own session."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from lakehouse.daemons import free_port
from lakehouse.serving import pg_wire as w
from lakehouse.serving.pg_endpoint import LakehouseBackend, PgEndpoint
from lakehouse.serving.sql_gateway import self_signed
from lakehouse.serving.sql_runner import QueryCancelled, QueryTimeout, SqlResult
from tests.integration.pg import make_lake

pytestmark = pytest.mark.integration
KEY, OTHER_KEY = "pg-key-1", "pg-key-2"
REPO = Path(__file__).resolve().parents[2]
JAR = REPO / "jvm" / "pg" / "target" / "jars" / "postgresql-42.7.7.jar"
PROBE = Path(__file__).with_name("pg") / "Probe.java"
QUERY = ("SELECT country, sum(units) AS units, sum(revenue_eur) AS revenue FROM gold.daily_sales "
         "WHERE order_date >= DATE'2026-03-11' GROUP BY country ORDER BY country")
REFUSED = {  # statement: words the refusal names
    "DROP TABLE gold.daily_sales": "DROP", "INSERT INTO gold.daily_sales SELECT * FROM gold.daily_sales": "INSERT",
    "CREATE TABLE gold.stolen AS SELECT 1 AS x": "CREATE", "SELECT * FROM silver.customers": "silver.customers",
    "SELECT * FROM bronze.orders": "bronze.orders", "SELECT * FROM gold.customer_segments": "customer_segments",
    "SELECT * FROM read_files('/etc/passwd')": "read_files", "SELECT * FROM text.`/etc/passwd`": "not valid",
    "SELECT reflect('java.lang.System', 'getenv', 'HOME')": "reflect",
    "SELECT * FROM pg_catalog.pg_class, gold.daily_sales": "cannot be read in one query",
}


class Server:
    def __init__(self, data_dir: Path, pg_port: int, api_port: int) -> None:
        self.data_dir, self.pg_port, self.api_port = data_dir, pg_port, api_port

    def dsn(self, password: str = KEY) -> str:
        return f"host=127.0.0.1 port={self.pg_port} dbname=lakehouse user=analyst password={password} sslmode=disable"

    def psql(self, *commands: str, password: str = KEY) -> subprocess.CompletedProcess[str]:
        args = ["psql", "-X", "-A", "-F", "|", "-v", "ON_ERROR_STOP=0", self.dsn(password)]
        for command in commands:
            args += ["-c", command]
        env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
        return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)

    def probe(self, *steps: str, password: str = KEY) -> dict[str, str]:
        url = f"jdbc:postgresql://127.0.0.1:{self.pg_port}/lakehouse"
        result = subprocess.run(["java", "-cp", str(JAR), str(PROBE), url, password, *steps], capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines() if " " in line}


@pytest.fixture(scope="module")
def server(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("pg-endpoint") / "world"
    make_lake.write(data_dir / "lake")
    pg_port, api_port = free_port(), free_port()
    log = data_dir.parent / "serve.log"
    args = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--engine", engine, "--data-dir",
            str(data_dir), "serve", "--port", str(api_port), "--sql-port", str(free_port()), "--pg-port", str(pg_port)]
    with log.open("wb") as out:
        # TZ: a server east of UTC still answers times in UTC
        process = subprocess.Popen(args, cwd=REPO, env={**os.environ, "TZ": "Asia/Tokyo",
                                                        "LAKEHOUSE_API_KEYS": f"{KEY},{OTHER_KEY}"},
                                   stdout=out, stderr=subprocess.STDOUT)
    srv = Server(data_dir, pg_port, api_port)
    deadline = time.monotonic() + 600  # two JVMs start on Spark: minutes on a loaded 2-core machine
    try:
        while True:  # up once a gold query answers (the engine starts after the port is bound)
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            try:
                with psycopg.connect(srv.dsn(), connect_timeout=5) as conn:
                    conn.execute("SELECT count(*) FROM gold.daily_sales").fetchone()
                break
            except psycopg.Error:
                time.sleep(0.5)
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    printed = log.read_text(errors="replace")
    assert f"postgresql://127.0.0.1:{pg_port}/lakehouse" in printed
    assert KEY not in printed and "passwd" not in printed  # never a key or a statement's text


@pytest.fixture(scope="module")
def expected(server: Server, spark: SparkSession) -> list[tuple[str, int, str]]:
    """The query's answer from Spark SQL on the Delta files."""
    path = str(server.data_dir / "lake" / "gold" / "daily_sales")
    rows = spark.sql(QUERY.replace("gold.daily_sales", f"delta.`{path}`")).collect()
    return [(r["country"], int(r["units"]), format(r["revenue"], "f")) for r in rows]


def test_psql_lists_describes_and_queries_gold(server: Server, expected: list) -> None:
    out = server.psql(r"\dt", r"\d gold.daily_sales", QUERY, "SELECT version()", "SHOW transaction_isolation",
                      "SET extra_float_digits = 3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "gold|daily_sales|table|lakehouse" in lines and "gold|model_monitoring|table|lakehouse" in lines
    assert not any("customer_segments" in line for line in lines)  # hidden tables are not listed
    assert "revenue_eur|numeric(18,2)|||" in lines and "order_date|date|||" in lines and "units|bigint|||" in lines
    start = lines.index("country|units|revenue")
    assert [tuple(line.split("|")) for line in lines[start + 1:start + 1 + len(expected)]] == [
        (c, str(u), r) for c, u, r in expected]
    assert any(line.startswith("PostgreSQL 14.0 (lakehouse") for line in lines)
    assert "read committed" in lines and "SET" in lines


def test_psql_refuses_everything_but_reading_gold(server: Server) -> None:
    out = server.psql(*REFUSED)
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == len(REFUSED), out.stderr
    for error, words in zip(errors, REFUSED.values(), strict=True):
        assert words in error, (error, words)
    assert not (server.data_dir / "lake" / "gold" / "stolen").exists()


def test_a_wrong_password_is_refused(server: Server) -> None:
    out = server.psql("SELECT 1", password="wrong")
    assert out.returncode != 0 and "password authentication failed" in out.stderr
    assert server.psql("SELECT 1", password=OTHER_KEY).returncode == 0  # every key works


def test_jdbc_metadata_bind_parameters_and_refusals(server: Server, expected: list) -> None:
    got = server.probe("tables", "columns", "param", "version", "refuse:DROP TABLE gold.daily_sales",
                       "refuse:SELECT * FROM silver.customers", "refuse:SELECT * FROM read_files('/etc/passwd')")
    assert got["tables"] == "ok gold.daily_sales,gold.model_monitoring"
    columns = got["columns"].removeprefix("ok ").split(",")
    assert columns == ["order_date:date:91", "country:text:12", "category:text:12", "orders:int8:-5",
                       "units:int8:-5", "revenue_eur:numeric:2", "avg_order_value_eur:numeric:2"]
    want = "int8/numeric;" + ";".join(f"{c}={u}={r}" for c, u, r in expected)
    assert got["param"] == f"ok {want}"  # text results first, binary ones once the statement is prepared
    assert got["version"].startswith("ok PostgreSQL|PostgreSQL 14.0")
    refusals = [v for k, v in got.items() if k == "refuse"]
    assert refusals and all(v.startswith("error 42501") for v in refusals), got
    wrong = server.probe("tables", password="wrong")
    assert wrong["connect"].startswith("error 28P01"), wrong


def test_psycopg_sees_postgresql_type_oids_and_binds_parameters(server: Server) -> None:
    with psycopg.connect(server.dsn()) as conn:
        cursor = conn.execute("SELECT order_date, country, units, revenue_eur FROM gold.daily_sales "
                              "WHERE country = %s AND units > %s ORDER BY order_date LIMIT 3", ("DE", 1))
        assert [c.type_code for c in cursor.description] == [1082, 25, 20, 1700]
        assert len(cursor.fetchall()) == 3
        cursor = conn.execute("SELECT * FROM gold.model_monitoring ORDER BY metric")
        assert [c.type_code for c in cursor.description] == [1184, 25, 701, 16, 23]
        rows = cursor.fetchall()
        assert rows[1][1:4] == ("psi", 0.07, True)
        assert rows[1][0] == make_lake.model_monitoring()["run_at"][1].as_py()  # the instant the lake holds
        names = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold' "
                             "ORDER BY 1").fetchall()
        assert names == [("daily_sales",), ("model_monitoring",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="silver.customers"):
            conn.execute("SELECT * FROM silver.customers WHERE customer_id = %s", (1,))


def test_off_loopback_without_tls_is_refused_in_one_line(tmp_path: Path) -> None:
    args = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--data-dir", str(tmp_path), "serve",
            "--host", "0.0.0.0", "--pg-port", "0"]
    env = {**os.environ, "LAKEHOUSE_API_KEYS": KEY, "LAKEHOUSE_SERVING__SQL_TLS": "true"}
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: refusing to serve PostgreSQL on 0.0.0.0 without TLS: set serving.pg_tls_cert and serving.pg_tls_key "
        "(LAKEHOUSE_SERVING__PG_TLS_CERT, ..._PG_TLS_KEY)"]


class _OneRow:
    """A backend that answers every statement with one row: for the protocol's own tests."""

    def prepare(self, sql: str, param_oids: list[int]) -> object:
        return type("S", (), {"param_oids": list(param_oids)})()

    async def describe(self, statement: object) -> list[w.Column]:
        return [w.Column("x", w.INT4)]

    async def run(self, statement: object, values: list) -> w.Result:
        return w.Result("SELECT 1", [w.Column("x", w.INT4)], [(1,)])


def test_with_a_certificate_only_tls_connections_are_served(tmp_path: Path) -> None:
    import ssl

    tls = self_signed(tmp_path, "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    server = w.PgServer(_OneRow(), [KEY], context)  # type: ignore[arg-type]
    port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(10)
    base = f"host=127.0.0.1 port={port} dbname=lakehouse user=u password={KEY}"
    try:
        with psycopg.connect(f"{base} sslmode=verify-full sslrootcert={tls.ca}") as conn:
            assert conn.info.pgconn.ssl_in_use
            assert conn.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="TLS connections only"):
            psycopg.connect(f"{base} sslmode=disable")
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
    shutil.rmtree(tmp_path, ignore_errors=True)


class _SlowEngine:
    """A runner whose every query runs until the test lets it finish, its client goes (the endpoint
    sets `cancel`) or its time limit; it counts what it saw."""

    def __init__(self) -> None:
        self.finish = threading.Event()
        self._lock = threading.Lock()
        self.running = self.most = self.calls = self.cancelled = 0

    def run(self, sql: str, versions: Mapping[str, int | None], limit: int, timeout: float,
            cancel: threading.Event | None = None) -> SqlResult:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            deadline = time.monotonic() + timeout
            while not self.finish.wait(0.02):
                if cancel is not None and cancel.is_set():
                    with self._lock:
                        self.cancelled += 1
                    raise QueryCancelled("the client went away")
                if time.monotonic() > deadline:
                    raise QueryTimeout(f"query cancelled after {timeout:g} s")
            return SqlResult(["n"], [{"n": 7}], False, pa.schema([("n", pa.int64())]))
        finally:
            with self._lock:
                self.running -= 1

    @staticmethod
    def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"not within {seconds:g} s: {what}"
            time.sleep(0.05)


def _slow_endpoint(tmp_path: Path, make_config: Callable[..., object], slots: int,
                   timeout: float) -> tuple[_SlowEngine, PgEndpoint, str, object]:
    make_lake.write(tmp_path / "lake")
    config = make_config(tmp_path, **{"serving.max_concurrent_queries": slots, "serving.sql_timeout_seconds": timeout})
    engine = _SlowEngine()
    endpoint = PgEndpoint(LakehouseBackend(config, engine), [KEY], None)  # type: ignore[arg-type]
    port = endpoint.start("127.0.0.1", 0)
    dsn = f"host=127.0.0.1 port={port} dbname=lakehouse user=u password={KEY} sslmode=disable"
    return engine, endpoint, dsn, config


def _psql(dsn: str, sql: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["psql", "-X", "-A", "-t", "-c", sql, dsn], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PGCONNECT_TIMEOUT": "10"})


def _own_work(dsn: str) -> tuple[object, ...]:
    """What the endpoint answers without the engine: a login, SELECT 1, the catalog, SHOW."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        one = conn.execute("SELECT 1").fetchone()
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold' "
                              "ORDER BY 1").fetchall()
        setting = conn.execute("SHOW transaction_isolation").fetchone()
    return one, [t for (t,) in tables], setting


def test_select_1_and_the_catalog_answer_while_every_engine_slot_is_taken(tmp_path: Path, make_config) -> None:
    # more slow queries at once than asyncio's default thread pool has threads
    slots = min(32, (os.cpu_count() or 1) + 4) + 1
    engine, endpoint, dsn, config = _slow_endpoint(tmp_path, make_config, slots, timeout=300)
    slow = [_psql(dsn, "SELECT count(*) AS n FROM gold.daily_sales") for _ in range(slots)]
    pool = ThreadPoolExecutor(1)
    try:
        engine.wait_for(lambda: engine.running == slots, f"{slots} queries on the engine at once")
        slow.append(_psql(dsn, "SELECT count(*) AS n FROM gold.daily_sales"))  # waits for a slot
        # "does not hang": a generous bound, far above the milliseconds these take
        one, tables, setting = pool.submit(_own_work, dsn).result(timeout=30)
        hidden = config.serving.hidden_tables  # type: ignore[attr-defined]
        assert one == (1,) and setting == ("read committed",)
        gold = tmp_path / "lake" / "gold"
        assert tables == sorted(p.name for p in gold.iterdir() if f"gold.{p.name}" not in hidden)
        assert engine.running == slots and engine.calls == slots  # the extra query queues outside the engine

        slow[0].kill()  # a client leaving mid-query frees its slot for the one waiting
        slow[0].wait(30)
        engine.wait_for(lambda: engine.cancelled == 1 and engine.calls == slots + 1,
                        "the query of the client that left cancelled, the waiting one run")
        engine.finish.set()
        outs = [p.communicate(timeout=60) for p in slow[1:]]
        assert [(p.returncode, out.strip()) for p, (out, _) in zip(slow[1:], outs, strict=True)] == [(0, "7")] * slots
        assert engine.most == slots
    finally:
        engine.finish.set()
        pool.shutdown(wait=False)
        for p in slow:
            p.kill()
            p.wait(30)
        endpoint.stop()


def test_the_time_limit_ends_running_and_waiting_queries(tmp_path: Path, make_config) -> None:
    engine, endpoint, dsn, _ = _slow_endpoint(tmp_path, make_config, slots=1, timeout=2)
    try:
        running = _psql(dsn, "SELECT count(*) AS n FROM gold.daily_sales")
        engine.wait_for(lambda: engine.running == 1, "the first query on the engine")
        waiting = _psql(dsn, "SELECT count(*) AS n FROM gold.daily_sales")
        for client in (running, waiting):
            _, err = client.communicate(timeout=60)
            assert "cancelled after 2 s" in err, err
        assert engine.most == 1
        assert _own_work(dsn)[0] == (1,)
    finally:
        engine.finish.set()
        endpoint.stop()


class _InterruptibleEngine:
    """A `QueryServer` stand-in whose queries run until their tag is interrupted."""

    def __init__(self) -> None:
        self.interrupted: list[str] = []
        self.stop = threading.Event()

    def session(self) -> tuple[object, int]:
        return self, 1

    def generation(self) -> int:
        return 1

    def refresh(self) -> None:
        pass

    def addTag(self, tag: str) -> None:  # noqa: N802 - PySpark's names
        self.tag = tag

    def removeTag(self, tag: str) -> None:  # noqa: N802
        pass

    def interruptTag(self, tag: str) -> None:  # noqa: N802
        self.interrupted.append(tag)
        self.stop.set()

    def sql(self, sql: str) -> _InterruptibleEngine:
        return self

    def limit(self, n: int) -> _InterruptibleEngine:
        return self

    def toArrow(self) -> pa.Table:  # noqa: N802
        if not self.stop.wait(60):
            return pa.table({"n": [1]})
        raise RuntimeError("interrupted")


def test_a_caller_that_gives_up_frees_its_engine_slot() -> None:
    from lakehouse.serving.sql_runner import EngineSqlRunner, QueryBusy

    engine = _InterruptibleEngine()
    runner = EngineSqlRunner(engine, max_queries=1, grace=1.0)  # type: ignore[arg-type]
    cancel = threading.Event()
    pool = ThreadPoolExecutor(1)
    try:
        call = pool.submit(runner.run, "SELECT 1", {}, 10, 60.0, cancel)
        _SlowEngine.wait_for(lambda: hasattr(engine, "tag"), "the query on the engine")
        with pytest.raises(QueryBusy):
            runner.run("SELECT 1", {}, 10, 60.0)  # its one slot is taken
        cancel.set()
        with pytest.raises(QueryCancelled):
            call.result(timeout=30)
        _SlowEngine.wait_for(lambda: engine.interrupted == [engine.tag], "the query interrupted")
        _SlowEngine.wait_for(lambda: runner._slots.acquire(blocking=False), "the slot freed")
    finally:
        engine.stop.set()
        pool.shutdown(wait=False)


def test_psql_shows_the_column_comments_the_table_declares(server: Server) -> None:
    from lakehouse.gold import daily_sales

    out = server.psql(r"\d+ gold.daily_sales")
    assert out.returncode == 0, out.stderr
    described = {line.split("|")[0]: line.split("|")[-1] for line in out.stdout.splitlines() if "|" in line}
    # a comment kept in the Delta schema (this lake's writer left one) wins over the declared one
    from deltalake import DeltaTable

    schema = DeltaTable(str(server.data_dir / "lake" / "gold" / "daily_sales")).schema()
    kept = {f.name: f.metadata.get("comment") for f in schema.fields if f.metadata.get("comment")}
    expected = {**daily_sales.SPEC.comments, **kept}
    assert daily_sales.SPEC.comments.keys() - kept.keys()  # some columns show the declared comment
    assert {c: described.get(c) for c in expected} == expected


# PostgreSQL's names for the Delta types of the test lake, as SQLAlchemy's dialect writes them
PG_TYPE_OF_DELTA = {"date": "DATE", "string": "TEXT", "long": "BIGINT", "integer": "INTEGER",
                    "double": "DOUBLE PRECISION", "boolean": "BOOLEAN", "timestamp": "TIMESTAMP WITH TIME ZONE"}


def _pg_type(delta_type: str) -> str:
    if delta_type.startswith("decimal("):
        precision, scale = delta_type.removeprefix("decimal(").removesuffix(")").split(",")
        return f"NUMERIC({precision}, {scale})"
    return PG_TYPE_OF_DELTA[delta_type]


def test_sqlalchemy_reflects_gold_and_queries_it(server: Server, expected: list) -> None:
    """What a BI tool built on SQLAlchemy (Superset) does: its PostgreSQL dialect's reflection, then a
    query SQLAlchemy writes itself (columns qualified by schema and table, a bound date)."""
    import datetime as dt

    import sqlalchemy as sa
    from deltalake import DeltaTable

    from lakehouse.config import load_config

    url = f"postgresql+psycopg://analyst:{KEY}@127.0.0.1:{server.pg_port}/lakehouse"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        assert "gold" in inspector.get_schema_names()
        gold = server.data_dir / "lake" / "gold"
        hidden = load_config("test", environ={}).serving.hidden_tables
        served = sorted(p.name for p in gold.iterdir() if f"gold.{p.name}" not in hidden)
        assert inspector.get_table_names(schema="gold") == served
        for table in served:
            schema = DeltaTable(str(gold / table)).schema()
            want = [(f.name, _pg_type(f.type.type)) for f in schema.fields]
            columns = inspector.get_columns(table, schema="gold")
            assert [(c["name"], c["type"].compile(dialect=engine.dialect)) for c in columns] == want
        assert inspector.get_pk_constraint("daily_sales", schema="gold")["constrained_columns"] == []
        assert inspector.get_indexes("daily_sales", schema="gold") == []

        sales = sa.Table("daily_sales", sa.MetaData(), schema="gold", autoload_with=engine)
        query = (sa.select(sales.c.country, sa.func.sum(sales.c.units).label("units"),
                           sa.func.sum(sales.c.revenue_eur).label("revenue"))
                 .where(sales.c.order_date >= dt.date(2026, 3, 11))
                 .group_by(sales.c.country).order_by(sales.c.country))
        with engine.connect() as conn:
            rows = conn.execute(query).all()
            assert [(c, int(u), format(r, "f")) for c, u, r in rows] == expected
            with pytest.raises(sa.exc.ProgrammingError, match="silver.customers"):
                conn.execute(sa.text("SELECT * FROM silver.customers"))
    finally:
        engine.dispose()


def test_a_client_that_never_logs_in_is_dropped_and_a_flood_is_capped(
        tmp_path: Path, make_config, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before login: a time limit, a small message limit and a cap on connections, so no one
    without a key can hold the endpoint's memory or file handles (the REST API stays up)."""
    import socket
    import struct

    monkeypatch.setattr(w, "AUTH_TIMEOUT_SECONDS", 2.0)
    monkeypatch.setattr(w, "MAX_CONNECTIONS", 5)
    _, endpoint, dsn, _ = _slow_endpoint(tmp_path, make_config, slots=1, timeout=5)
    port = endpoint.port
    held: list[socket.socket] = []
    try:
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        silent.settimeout(10)
        assert b"timeout" in silent.recv(1000)  # dropped with PostgreSQL's FATAL, not after minutes
        assert silent.recv(1000) == b""
        startup = struct.pack("!ii", 8 + len(b"user\0u\0database\0lakehouse\0\0"), 196608)
        startup += b"user\0u\0database\0lakehouse\0\0"
        huge = socket.create_connection(("127.0.0.1", port), timeout=10)
        huge.sendall(startup)
        huge.recv(1000)  # the SASL request
        huge.sendall(b"p" + struct.pack("!i", 16 * 1024 * 1024) + b"x" * 1000)  # a 16 MB password, never sent
        assert b"invalid message length" in huge.recv(1000)
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra.settimeout(10)
        assert b"too many clients" in extra.recv(1000)
        for s in held:
            s.close()
        held = []
        deadline = time.monotonic() + 10
        while True:  # the slots free as the held sockets close
            try:
                with psycopg.connect(dsn, connect_timeout=5) as conn:
                    assert conn.execute("SELECT 1").fetchone() == (1,)
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        for s in held:
            s.close()
        endpoint.stop()


def test_bad_statements_are_errors_the_session_survives(tmp_path: Path, make_config) -> None:
    """A bad cast, an overflow, deep nesting, a huge statement, a huge catalog answer: an error or
    a cut answer, and the same connection answers the next statement."""
    _, endpoint, dsn, _ = _slow_endpoint(tmp_path, make_config, slots=1, timeout=10)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql, state in [("SELECT 'a'::int", "22P02"), ("SELECT 2147483647 + 1", "22003"),
                               ("SELECT " + "(" * 60 + "1" + ")" * 60, "54001"),
                               ("SELECT count(*) FROM gold.daily_sales WHERE country IN ("
                                + ",".join(["'zz'"] * 5000) + ")", "54000")]:
                with pytest.raises(psycopg.Error) as raised:
                    conn.execute(sql)
                assert raised.value.sqlstate == state, (sql[:40], raised.value)
                assert conn.execute("SELECT 1").fetchone() == (1,)
            cursor = conn.execute("SELECT unnest(range(5000000)) AS n")
            assert len(cursor.fetchall()) == 10_000  # serving.row_limit
    finally:
        endpoint.stop()
