"""What `lakehouse serve` prints on its console, as a newcomer starts it: with no keys configured, a
dashboard address that opens as printed; one access line per request at the default log level;
a failing query as one WARNING line, without its values, a traceback or the key."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakehouse.config import Config
from lakehouse.daemons import free_port
from tests.integration.servers import wait_until_healthy

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EMAIL = "anna.schmidt@example.com"


class Console:
    def __init__(self, process: subprocess.Popen[bytes], port: int, out: Path, err: Path) -> None:
        self.process, self.port, self.out, self.err = process, port, out, err

    def printed(self) -> list[str]:
        return self.out.read_text().splitlines()

    def logged(self) -> list[str]:
        return self.err.read_text(errors="replace").splitlines()


@pytest.fixture(scope="module")
def console(built_world: Config, engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("serve-console")
    shutil.copytree(built_world.data_dir, root / "world")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "AWS_", "SPARK_"))}
    args = [
        str(Path(sys.executable).parent / "lakehouse"),
        "--env",
        "test",
        "--engine",
        engine,
        "--data-dir",
        str(root / "world"),
        "serve",
        "--port",
        str(port),
        "--sql-port",
        str(free_port()),
    ]
    out, err = root / "stdout.txt", root / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=stdout, stderr=stderr)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, err, 600)
        deadline = time.monotonic() + 60
        while "Ctrl-C to stop" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield Console(process, port, out, err)
    finally:
        process.kill()
        process.wait(timeout=30)


def _generated_key(console: Console) -> str:
    lines = [line for line in console.printed() if line.startswith("No LAKEHOUSE_API_KEYS set")]
    assert len(lines) == 1, console.printed()
    return lines[0].rsplit(" ", 1)[1]


def test_the_dashboard_address_is_printed_ready_to_open(console: Console) -> None:
    key = _generated_key(console)
    assert len(key) >= 20 and key != "<key>"
    url = f"http://127.0.0.1:{console.port}/dashboard?key={key}"
    assert f"Dashboard    {url}" in console.printed()
    opened = httpx.get(url, follow_redirects=True, timeout=60)
    assert opened.status_code == 200 and "<html" in opened.text.lower()


def _sql(console: Console, key: str, query: str, seconds: float = 900) -> httpx.Response:
    """`POST /sql`, once its engine serves (503 while it starts)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = httpx.post(
            f"http://127.0.0.1:{console.port}/sql",
            json={"query": query},
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(2)


def test_requests_are_logged_one_line_each_and_a_failed_query_once_without_values(console: Console) -> None:
    key = _generated_key(console)
    assert _sql(console, key, "SELECT count(*) AS n FROM gold.daily_sales").status_code == 200
    dashboard = httpx.get(f"http://127.0.0.1:{console.port}/dashboard", params={"key": key}, timeout=60)
    assert dashboard.status_code == 303  # the key moves to a cookie
    before = len(console.logged())
    failed = _sql(console, key, f"SELECT CAST(concat(country, '{EMAIL}') AS INT) AS x FROM gold.daily_sales")
    assert failed.status_code == 400, failed.text
    time.sleep(1)
    new = console.logged()[before:]
    warnings = [line for line in new if "WARNING" in line]
    assert len(warnings) == 1 and re.search(r"WARNING +sql query failed: \w+", warnings[0]), new
    access = [line for line in new if re.search(r"INFO +POST /sql \d{3} [\d.]+ms", line)]
    assert len(access) == 1 and " 400 " in access[0], new
    log = "\n".join(console.logged())
    assert re.search(r"INFO +GET /dashboard 303 [\d.]+ms", log), log[-3000:]
    for absent in (EMAIL, "anna.schmidt", key, "Traceback", "GRPC"):
        assert absent not in log, absent


def test_a_path_cannot_forge_a_log_line(console: Console) -> None:
    """No key needed to send a path: its newline or NUL stays escaped inside its own access line."""
    forged = "[12/07/26 05:07:00] WARNING  pg endpoint: FORGED"
    httpx.get(f"http://127.0.0.1:{console.port}/x%0A{forged.replace(' ', '%20')}%00", timeout=60)
    time.sleep(1)
    lines = console.logged()
    assert not any(line.lstrip().startswith(forged[:19]) for line in lines), lines[-5:]  # no line of its own
    assert any("GET /x\\n[12/07/26" in line for line in lines), lines[-5:]  # escaped, in the request's line
    assert not any("\x00" in line for line in lines)
