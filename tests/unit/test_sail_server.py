"""A Sail server this process starts keeps its sessions while the process lives.

Sail removes a session that was idle for `spark.session_timeout_secs` (15 minutes by default):
an idle `lakehouse serve`, or a long step between two queries of a job, would then fail with
"session ... is not running". Each case runs in a process of its own, since Sail reads its
settings from the environment when the server starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from lakehouse.engine import SAIL_SESSION_IDLE_SECONDS

pytestmark = pytest.mark.skipif('config.getoption("engine") == "spark"',
                                reason="about the embedded engine's server, started in a process of its own")

PROBE = textwrap.dedent("""
    import os, sys, time
    from pyspark.sql import SparkSession
    from lakehouse.engine import start_sail_server

    server = start_sail_server()
    spark = SparkSession.builder.remote(f"sc://127.0.0.1:{server.listening_address[1]}").getOrCreate()
    spark.range(1).count()
    time.sleep(float(sys.argv[1]))
    try:
        spark.range(1).count()
        print("alive", os.environ["SAIL_SPARK__SESSION_TIMEOUT_SECS"])
    except Exception as error:
        print("gone" if "is not running" in str(error) else f"other {error}")
""")


def _probe(idle: float, timeout_setting: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SAIL_SPARK__SESSION_TIMEOUT_SECS"}
    if timeout_setting is not None:
        env["SAIL_SPARK__SESSION_TIMEOUT_SECS"] = timeout_setting
    done = subprocess.run([sys.executable, "-c", PROBE, str(idle)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_an_operators_idle_timeout_is_honoured() -> None:
    # Shows the setting is the one Sail reads: with 2 seconds, 4 idle seconds lose the session.
    assert _probe(4, "2") == "gone"


def test_by_default_a_session_outlives_any_idle_time_a_process_sees() -> None:
    assert _probe(4, None) == f"alive {SAIL_SESSION_IDLE_SECONDS}"
    assert SAIL_SESSION_IDLE_SECONDS >= 365 * 24 * 3600
