"""Waiting for a `lakehouse serve` process the tests started."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_until_healthy(url: str, process: subprocess.Popen, log_path: Path, seconds: float) -> None:
    """Return once `url/health` answers 200; kill the process and fail with its log's tail if it
    exits or does not answer within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"server did not start: {log_path.read_text()[-3000:]}")
