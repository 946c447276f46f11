"""A run killed while it stages rows leaves them under `<lake>/_staging`; the next run that takes the
lake sweeps them, `maintain --purge-erased` removes every stage, and afterwards an erased
customer's email is in no file under the lake: on a local lake and on the project's S3 server.

The killed run is a real pipeline run in a process of its own that SIGKILLs itself right after
silver_customers staged a frame holding the customer's email, so nothing of it cleans up. Files
are searched as bytes (and Parquet files decoded) by `lakes.files_holding`, not by the code under
test."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lakehouse.config import Config
from lakehouse.files import Location
from tests.integration import lakes

pytestmark = pytest.mark.integration
CUSTOMER_JOBS = ("bronze_app_db", "silver_customers", "gold_customer_features", "gold_customer_segments")

# Runs bronze_app_db and silver_customers under the lake's lock, and kills itself (SIGKILL: no
# `finally` runs) once a staged frame holds `needle`.
KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from pyspark.sql import functions as F
    from lakehouse.config import load_config
    from lakehouse.engine import get_session
    from lakehouse.pipeline import run_jobs, select_jobs
    from lakehouse.storage import Lake

    needle, data_dir = os.environ["STAGED_NEEDLE"], sys.argv[1]
    config = load_config("test", overrides={"engine.kind": "embedded", "data_dir": data_dir})
    staged_by = Lake.stage_frames

    def stage_then_die(self, frames, stage, name):
        staged = staged_by(self, frames, stage, name)
        rows = staged.select(F.to_json(F.struct(*staged.columns))).collect()
        if any(needle in row[0] for row in rows):
            os.kill(os.getpid(), signal.SIGKILL)
        return staged

    Lake.stage_frames = stage_then_die
    run_jobs(config, Lake(get_session(config), config.lake), select_jobs(["bronze_app_db", "silver_customers"]))
    print("the run was not killed: no staged frame held the email")
""")

# `maintain --purge-erased`'s library call, with no lock held (so no sweep at the lock).
PURGE = textwrap.dedent("""
    import sys
    from lakehouse.config import load_config
    from lakehouse.engine import get_session
    from lakehouse.maintenance import purge_erased
    from lakehouse.storage import Lake

    config = load_config("test", overrides={"engine.kind": "embedded", "data_dir": sys.argv[1]})
    purge_erased(Lake(get_session(config), config.lake))
""")


# Skipped at collection: the small world these tests copy is not built on Spark to be skipped.
pytestmark = [pytestmark, pytest.mark.skipif(
    'config.getoption("engine") == "spark"',
    reason="stages are swept and removed by the driver through the file layer, the same code on every engine: "
    "tested on the embedded engine, whose killed run and rerun take seconds")]


@pytest.fixture(params=["local", "s3"])
def lake_world(request: pytest.FixtureRequest, small_world: Config, tmp_path: Path) -> tuple[Path, Location, dict]:
    """The small world (sources and built lake) copied: data folder, lake, environment of its runs."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEHOUSE_", "SPARK_"))}
    data_dir = tmp_path / "world"
    if request.param == "local":
        shutil.copytree(small_world.data_dir, data_dir)
        return data_dir, Location(data_dir / "lake"), kept
    server = request.getfixturevalue("s3_server")
    lake = lakes.lake_on_s3(small_world, server, "staged")
    lakes.sources_on_s3(small_world, lake.parent, data_dir)
    # a short lease: the killed run's lock is taken over seconds after its death
    return data_dir, lake, lakes.env(server, lake.parent, LAKEHOUSE_STORAGE__LOCK_LEASE_SECONDS="3")


def _customer_with_unique_email(app_db: Path) -> tuple[int, str]:
    with sqlite3.connect(app_db) as db:
        return db.execute(
            "SELECT customer_id, email FROM customers c WHERE email IS NOT NULL AND "
            "(SELECT count(*) FROM customers d WHERE d.email = c.email) = 1 ORDER BY customer_id LIMIT 1"
        ).fetchone()


def _kill_while_staging(data_dir: Path, environ: dict, customer: int, email: str) -> None:
    """Change the customer (so silver_customers restages their rows) and run until a stage holds them."""
    with sqlite3.connect(data_dir / "sources" / "app.db") as db:
        db.execute("UPDATE customers SET address = 'Moved 1', updated_at = '2098-01-01 00:00:00' "
                   "WHERE customer_id = ?", (customer,))
    # (the email in the environment, not on the command line: the lake's lock records the latter)
    run = subprocess.run([sys.executable, "-c", KILLED_RUN, str(data_dir)], env={**environ, "STAGED_NEEDLE": email},
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == -signal.SIGKILL, (run.stdout + run.stderr)[-3000:]


def _erase(data_dir: Path, customer: int) -> None:
    with sqlite3.connect(data_dir / "sources" / "app.db") as db:
        db.execute("DELETE FROM customers WHERE customer_id = ?", (customer,))
        db.execute("INSERT INTO erasure_requests VALUES (?, '2099-01-01 00:00:00')", (customer,))


def _staged_files(lake: Location) -> list[str]:
    return [e.location.relative_to(lake) for e in (lake / "_staging").list(recursive=True) if not e.is_dir]


def test_the_next_run_sweeps_a_killed_runs_stages_and_the_purge_leaves_the_email_nowhere(lake_world) -> None:
    data_dir, lake, environ = lake_world
    customer, email = _customer_with_unique_email(data_dir / "sources" / "app.db")
    _kill_while_staging(data_dir, environ, customer, email)
    staged = _staged_files(lake)
    assert staged, "the killed run left no staged file"
    assert email in set().union(*lakes.files_holding(lake / "_staging", [email]).values())

    _erase(data_dir, customer)
    rerun = lakes.lakehouse("embedded", data_dir, environ, "run", "--wait", "60", *CUSTOMER_JOBS)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _staged_files(lake) == []
    stages = len({path.split("/")[1] for path in staged})
    assert f"removed {stages} staged folder(s) ({len(staged)} file(s))" in " ".join(rerun.stderr.split())
    assert email not in rerun.stdout + rerun.stderr  # counts are logged, never contents

    purge = lakes.lakehouse("embedded", data_dir, environ, "maintain", "--purge-erased")
    assert purge.returncode == 0, purge.stderr[-3000:]
    assert lakes.files_holding(lake, [email]) == {}


def test_the_purge_removes_every_stage(lake_world) -> None:
    data_dir, lake, environ = lake_world
    customer, email = _customer_with_unique_email(data_dir / "sources" / "app.db")
    _kill_while_staging(data_dir, environ, customer, email)
    assert lakes.files_holding(lake / "_staging", [email])
    (lake / "_staging" / "stray").write_bytes(b"left over")  # a file, not a stage folder

    purge = subprocess.run([sys.executable, "-c", PURGE, str(data_dir)], env=environ, capture_output=True,
                           text=True, timeout=900)
    assert purge.returncode == 0, purge.stderr[-3000:]
    assert (lake / "_staging").list(recursive=True) == []
