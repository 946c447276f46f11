"""How long a Sail server this process starts keeps an idle session.

Sail removes a session that was idle for `spark.session_timeout_secs` (15 minutes by default):
an idle `lakehouse serve`, or a long step between two queries of a job, would then fail with
"session ... is not running". A server only this process uses keeps its sessions; the Spark SQL
endpoint's server, which outside clients reach, keeps Sail's default and keeps its own session in
use. Each case runs in a process of its own: Sail reads its settings from the environment when a
server starts, and the process's first server would decide for the pass.
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
    from lakehouse.engine import SAIL_SESSION_TIMEOUT, start_sail_server

    idle_setting = None if sys.argv[2] == "none" else int(sys.argv[2])
    server = start_sail_server(idle_session_seconds=idle_setting)
    left = os.environ.get(SAIL_SESSION_TIMEOUT)
    spark = SparkSession.builder.remote(f"sc://127.0.0.1:{server.listening_address[1]}").getOrCreate()
    spark.range(1).count()
    time.sleep(float(sys.argv[1]))
    try:
        spark.range(1).count()
        print("alive", left)
    except Exception as error:
        print("gone" if "is not running" in str(error) else f"other {error}", left)
""")


def _probe(idle: float, setting: str, operator: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SAIL_SPARK__SESSION_TIMEOUT_SECS"}
    if operator is not None:
        env["SAIL_SPARK__SESSION_TIMEOUT_SECS"] = operator
    done = subprocess.run([sys.executable, "-c", PROBE, str(idle), setting], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_servers_idle_time_is_taken_when_it_starts_and_not_left_for_the_next() -> None:
    # 2 s given: 4 idle seconds lose the session, and the variable is gone from the environment
    assert _probe(4, "2") == "gone None"


def test_an_operators_idle_time_wins() -> None:
    assert _probe(4, str(SAIL_SESSION_IDLE_SECONDS), operator="2") == "gone 2"


def test_by_default_a_session_outlives_an_idle_time_sail_would_end() -> None:
    assert _probe(4, "none", operator="3") == "gone 3"  # the control: Sail honours a short idle time
    assert _probe(4, str(SAIL_SESSION_IDLE_SECONDS)) == "alive None"


def test_the_sql_endpoints_catalog_keeps_its_session_in_use(tmp_path) -> None:  # noqa: ANN001
    """Its server frees idle sessions (here after 3 s); the catalog's own session lives on."""
    script = textwrap.dedent(f"""
        import time
        from pyspark.sql import SparkSession
        from lakehouse.config import load_config
        from lakehouse.engine import start_sail_server
        from lakehouse.serving.tables import TableStore
        from lakehouse.serving.sql_endpoint import GoldCatalog
        from lakehouse.storage import Lake

        server = start_sail_server(idle_session_seconds=None)
        spark = SparkSession.builder.remote(f"sc://127.0.0.1:{{server.listening_address[1]}}").getOrCreate()
        config = load_config("test", overrides={{"data_dir": "{tmp_path}"}}, environ={{}})
        catalog = GoldCatalog(spark, TableStore(config.lake), Lake(spark, config.lake), True, 0.5, keepalive=1.0)
        spark.range(1).count()  # the session is made on first use
        catalog.start()
        time.sleep(6)
        print(spark.range(3).count())
        catalog.stop()
    """)
    env = {**os.environ, "SAIL_SPARK__SESSION_TIMEOUT_SECS": "3"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "3", done.stderr[-2000:]


ALLOCATOR_PROBE = textwrap.dedent("""
    import os
    from pyspark.sql import SparkSession
    from lakehouse.engine import start_sail_server

    server = start_sail_server()
    spark = SparkSession.builder.remote(f"sc://127.0.0.1:{server.listening_address[1]}").getOrCreate()
    rows = spark.range(3).count()
    thp = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("THP_enabled"))
    print(rows, os.environ.get("MIMALLOC_ARENA_EAGER_COMMIT"), thp)
""")


@pytest.mark.skipif(sys.platform != "linux", reason="huge pages are turned off per process on Linux only")
@pytest.mark.parametrize(("operator", "expected"), [(None, "0"), ("1", "1")], ids=["default", "operators-own"])
def test_a_process_starting_sail_commits_memory_on_demand_without_huge_pages(operator: str | None,
                                                                           expected: str) -> None:
    """Before Sail's library loads: arenas committed on demand unless the operator said otherwise,
    and no transparent huge pages for the process (docs/engines.md)."""
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_ARENA_EAGER_COMMIT"}
    if operator is not None:
        env["MIMALLOC_ARENA_EAGER_COMMIT"] = operator
    done = subprocess.run([sys.executable, "-c", ALLOCATOR_PROBE], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"3 {expected} 0"
