"""`lakehouse serve` under abuse, as an attacker would try it: big and endless bodies without a key,
queries that never end, more queries than allowed, failing queries with personal values, SIGTERM
while a query runs. One real server process per module on a copy of the built world; its log is
the process's own output (logging and stderr, the JVM's and Sail's included)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from lakehouse.config import Config
from lakehouse.daemons import free_port
from tests.integration.servers import wait_until_healthy

pytestmark = pytest.mark.integration
KEY = "abuse-key-1f0c9e"
AUTH = {"Authorization": f"Bearer {KEY}"}
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10  # serving.sql_timeout_seconds of the server below
CAP = 2  # serving.max_concurrent_queries
EMAIL, NAME, URL_KEY = "anna.schmidt@example.com", "Annegret Vogelsang", "leaked-in-url-7d2b"
# A five-way self cross join with a filter: a nested-loop join no engine stops when interrupted
# (617^5 rows on the test world); each variant differs so that none is answered from the cache.
RUNAWAY = ("SELECT COUNT(*) AS n FROM gold.daily_sales a, gold.daily_sales b, gold.daily_sales c, "
           "gold.daily_sales d, gold.daily_sales e WHERE a.units + b.units + c.units + d.units + e.units > {}")


class Server:
    def __init__(self, process: subprocess.Popen[bytes], api_port: int, log: Path) -> None:
        self.process, self.api_port, self.log = process, api_port, log
        self.url = f"http://127.0.0.1:{api_port}"
        self.client = httpx.Client(base_url=self.url, headers=AUTH, timeout=120)
        self.probes = 0

    def sql(self, query: str) -> httpx.Response:
        return self.client.post("/sql", json={"query": query})

    def wait_for_sql(self, seconds: float = 300) -> None:
        """Until /sql answers: its engine starts (or restarts) in the background, 503 meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.probes += 1  # a query never asked before, so the engine answers it, not the cache
            answer = self.sql(f"SELECT COUNT(*) AS n FROM gold.daily_sales WHERE units > {-self.probes}")
            if answer.status_code == 200:
                return
            # 503 while the engine (re)starts, 429 while cancelled queries still hold their places,
            # 504 for a probe that queued behind a runaway query
            assert answer.status_code in (429, 503, 504), answer.text
            time.sleep(1)
        raise AssertionError(f"/sql did not come up within {seconds} s")


@pytest.fixture(scope="module")
def server(built_world: Config, engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("abuse") / "world"
    shutil.copytree(built_world.data_dir, data_dir)
    api_port = free_port()
    env = {**os.environ, "LAKEHOUSE_API_KEYS": KEY, "LAKEHOUSE_SERVING__SQL_TIMEOUT_SECONDS": str(TIMEOUT),
           "LAKEHOUSE_SERVING__MAX_CONCURRENT_QUERIES": str(CAP)}
    args = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--engine", engine,
            "--data-dir", str(data_dir), "serve", "--port", str(api_port), "--sql-port", str(free_port())]
    log_path = data_dir.parent / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = Server(process, api_port, log_path)
    wait_until_healthy(srv.url, process, log_path, 300)
    try:
        srv.wait_for_sql(900)  # a JVM engine takes minutes to start on a busy machine
        yield srv
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _post_head(port: int, length: int, key: str | None = None) -> socket.socket:
    """A raw `POST /sql` whose headers announce `length` bytes of body, none of them sent yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = ["POST /sql HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            f"Content-Length: {length}"]
    if key:
        head.append(f"Authorization: Bearer {key}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def _status(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_a_request_without_a_key_is_refused_before_its_body_is_read(server: Server) -> None:
    """The headers announce 100 MB and not a byte follows: the answer can only come from the head."""
    sock = _post_head(server.api_port, 100_000_000)
    try:
        status, _ = _status(sock)  # on a server that waits for the body, this times out
    finally:
        sock.close()
    assert status == 401
    sock = _post_head(server.api_port, 100_000_000, key="not-a-key")
    try:
        assert _status(sock)[0] == 403
    finally:
        sock.close()


def test_an_unauthenticated_100_mb_body_does_not_grow_the_server(server: Server) -> None:
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    size = 100 * 1024 * 1024
    sock = _post_head(server.api_port, size + len(b'{"query": ""}'))
    sent = 0

    def push() -> None:
        nonlocal sent
        block = b'{"query": "' + b"a" * (1024 * 1024 - 11)
        try:
            sock.sendall(block)
            sent += len(block)
            for _ in range(99):
                sock.sendall(b"a" * 1024 * 1024)
                sent += 1024 * 1024
            sock.sendall(b'"}')
        except OSError:  # the server answered and closed: it will not read the rest
            pass

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    try:
        status, _ = _status(sock)
    finally:
        sock.close()
    pusher.join(timeout=60)
    assert status == 401
    grown = process.memory_info().rss - before
    assert grown < 50 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MB for a refused body"


def test_a_body_over_the_limit_is_answered_413(server: Server) -> None:
    query = "SELECT 1 AS x -- " + "a" * 1_100_000  # over serving.max_body_bytes (1 MB by default)
    declared = server.client.post("/sql", json={"query": query})
    assert declared.status_code == 413 and "serving.max_body_bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body comes chunked
        yield b'{"query": "SELECT 1 AS x -- '
        for _ in range(1200):
            yield b"a" * 1000
        yield b'"}'

    chunked = server.client.post("/sql", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413 and "serving.max_body_bytes" in chunked.json()["detail"]

    sock = _post_head(server.api_port, 50_000_000, key=KEY)  # announced, never sent: answered from the head
    try:
        assert _status(sock)[0] == 413
    finally:
        sock.close()
    assert server.sql("SELECT 1 AS x").status_code == 200


def test_a_validation_error_does_not_echo_the_input(server: Server) -> None:
    query = f"SELECT '{EMAIL}' AS x -- " + "b" * 20_001  # over SqlRequest's 20 000 characters
    answer = server.sql(query)
    assert answer.status_code == 422
    assert EMAIL not in answer.text and "bbbb" not in answer.text and "input" not in answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "query"]


def test_failed_queries_leave_no_values_or_keys_in_the_log(server: Server) -> None:
    failing = [
        f"SELECT nosuch FROM gold.daily_sales WHERE country = '{EMAIL}'",  # fails in analysis
        f"SELECT CAST(concat(country, '{NAME}') AS INT) AS x FROM gold.daily_sales",  # fails while running
    ]
    for query in failing:
        answer = server.sql(query)
        assert answer.status_code in (400, 504), answer.text
    assert server.client.get("/tables", params={"key": URL_KEY, "email": EMAIL}).status_code == 200
    assert httpx.get(f"{server.url}/dashboard", params={"key": URL_KEY}).status_code == 403
    assert httpx.get(f"{server.url}/tables/gold.daily_sales", params={"key": KEY}).status_code == 401
    assert httpx.post(f"{server.url}/sql", json={"query": f"SELECT '{EMAIL}'"}).status_code == 401
    time.sleep(1)
    log = server.log.read_text(errors="replace")
    for secret in (EMAIL, NAME, URL_KEY, KEY, "anna.schmidt", "Vogelsang"):
        assert secret not in log, f"{secret!r} is in the server's log"
    assert "sql query failed" in log  # the log read is the one the server writes to


def test_a_runaway_query_is_cancelled_at_the_limit_while_the_server_answers(server: Server) -> None:
    server.wait_for_sql()
    health: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        running = pool.submit(server.sql, RUNAWAY.format(7))
        while not running.done():
            health.append(httpx.get(f"{server.url}/health", timeout=30).status_code)
            time.sleep(1)
        answer, elapsed = running.result(), time.monotonic() - started
    assert answer.status_code == 504, answer.text
    assert elapsed < TIMEOUT + 15
    assert health and set(health) == {200}
    server.wait_for_sql()  # the engine that could not stop the query is replaced
    query = "SELECT country, SUM(units) AS units FROM gold.daily_sales GROUP BY country ORDER BY country"
    assert server.sql(query).status_code == 200


def test_queries_beyond_the_cap_are_answered_429(server: Server) -> None:
    server.wait_for_sql()
    with ThreadPoolExecutor(CAP + 2) as pool:
        answers = list(pool.map(server.sql, [RUNAWAY.format(20 + i) for i in range(CAP + 2)]))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(429) >= 1, statuses
    assert set(statuses) <= {429, 504, 503}, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["retry-after"]) > 0


def test_sigterm_stops_the_server_within_5_s_while_a_runaway_query_runs(server: Server) -> None:
    server.wait_for_sql()
    pool = ThreadPoolExecutor(1)
    pool.submit(server.sql, RUNAWAY.format(9))
    time.sleep(3)
    assert server.process.poll() is None
    children = psutil.Process(server.process.pid).children(recursive=True)
    server.process.terminate()
    server.process.wait(timeout=5)  # raises TimeoutExpired when the server outlives the limit
    pool.shutdown(wait=False, cancel_futures=True)
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [p.cmdline()[:3] for p in alive]  # no engine process is left behind
