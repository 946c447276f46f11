"""The one place that makes a SparkSession.

Three kinds, chosen by `engine.kind` (or `--engine`):

* `embedded`: Sail (pysail), a Rust Spark Connect server started in this process. The default.
* `spark`: Apache Spark on the JVM with Delta. Under spark-submit, the master and jars come from
  spark-submit; elsewhere the session runs `engine.spark_master` with the jars Maven fetched.
* `connect`: any Spark Connect server at `engine.connect_url`: Sail elsewhere, or Apache Spark's
  own Spark Connect server with Delta (`lakehouse connect-server start`).

One Python process holds one engine: a classic JVM session and a Spark Connect session cannot
coexist behind the generic builder.

What the engine can do is declared once, when its session is made: an `EngineProfile`
(`profile_of(spark)`). Every route that differs between engines reads it; nothing else looks at a
session's class. docs/engines.md shows the same table (tests/unit/test_engine_profile.py keeps
the two equal).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import SparkSession

from lakehouse import jvm_archive
from lakehouse.config import Config
from lakehouse.files import S3Settings

log = logging.getLogger(__name__)

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

_embedded_server: Any = None


class EngineError(RuntimeError):
    """The requested engine cannot be started; the message says what is missing."""


@dataclass(frozen=True)
class EngineProfile:
    """What one engine can do, and so which route each engine-dependent step takes."""

    name: str  # embedded (Sail in this process) | spark (Apache Spark, JVM driver here) | connect-sail | connect-spark
    classic_session: bool  # a JVM driver in this process: SparkContext, Structured Streaming sinks, the master URL
    delta_sql_maintenance: bool  # DESCRIBE HISTORY / OPTIMIZE / VACUUM as SQL (else delta-rs on the same table)
    merge_rewrites_table: bool  # MERGE INTO rewrites the whole table (measured on Sail: ENGINE_NOTES.md)
    structured_streaming: bool  # readStream from Kafka into foreachBatch, run by the engine
    corrupt_record_modes: bool  # the JSON/CSV readers' PERMISSIVE/DROPMALFORMED with a corrupt-record column
    engine_on_this_machine: bool  # the engine computes here only (embedded, `local[...]`): no executors elsewhere
    driver_shares_files: bool  # this process reaches the lake's files as the engine does (delta-rs on the same tables)
    catalog_scope: str  # session: table names registered per session | server: shared by every client of the server

    def upsert_default(self) -> str:
        """The fastest upsert measured for this engine when nothing else decides (benchmarks/upsert.md):
        MERGE where the engine runs on executors elsewhere or the driver cannot reach the files,
        delta-rs on the driver where the driver is the whole engine anyway."""
        if not self.driver_shares_files:
            return "merge"
        if self.merge_rewrites_table or self.engine_on_this_machine:
            return "delta-rs"
        return "merge"


_PROFILES: dict[int, tuple[SparkSession, EngineProfile]] = {}


def profile_of(spark: SparkSession) -> EngineProfile:
    """The profile declared when `spark` was made by `get_session`."""
    try:
        return _PROFILES[id(spark)][1]
    except KeyError:
        raise EngineError("this session was not made by lakehouse.engine.get_session: its engine is unknown") from None


def _remember(spark: SparkSession, profile: EngineProfile) -> SparkSession:
    _PROFILES[id(spark)] = (spark, profile)
    return spark


EMBEDDED = EngineProfile(
    name="embedded", classic_session=False, delta_sql_maintenance=False, merge_rewrites_table=True,
    structured_streaming=False, corrupt_record_modes=False, engine_on_this_machine=True,
    driver_shares_files=True, catalog_scope="session",
)


def _spark_profile(master: str) -> EngineProfile:
    return EngineProfile(
        name="spark", classic_session=True, delta_sql_maintenance=True, merge_rewrites_table=False,
        structured_streaming=True, corrupt_record_modes=True, engine_on_this_machine=master.startswith("local"),
        driver_shares_files=True, catalog_scope="session",
    )


def _connect_profile(spark: SparkSession, url: str, config: Config) -> EngineProfile:
    """Sail or Apache Spark behind a Spark Connect URL: `engine.connect_server`, else the server's
    own answer (`version()` is Sail's release on Sail, Spark's on Apache Spark)."""
    server = config.engine.connect_server
    if server == "auto":
        row = spark.sql("SELECT version() AS v").first()
        version = row["v"] if row is not None else ""
        server = "spark" if str(version).split(" ")[0] == spark.version else "sail"
    host = urlparse(url.replace("sc://", "http://", 1)).hostname or ""
    loopback = host in ("localhost", "127.0.0.1", "::1")
    shares = config.engine.driver_shares_files
    if shares is None:  # a server on this machine sees the same files, and anyone sees a lake on object storage
        shares = loopback or not config.lake.is_local
    sail = server == "sail"
    return EngineProfile(
        name=f"connect-{server}", classic_session=False, delta_sql_maintenance=not sail,
        merge_rewrites_table=sail, structured_streaming=False, corrupt_record_modes=not sail,
        engine_on_this_machine=loopback and sail, driver_shares_files=bool(shares),
        catalog_scope="session" if sail else "server",
    )


# Sail removes a session nobody used for `spark.session_timeout_secs` (15 minutes by default).
# A server whose only clients are this process's own sessions (the embedded engine, the REST
# API's query engine) keeps them as long as the process lives: an idle `lakehouse serve` or a long
# step of a job must not lose its session. A server that outside clients reach (the Spark SQL
# endpoint) keeps Sail's default, so sessions they abandon are freed, and its own session is kept
# in use instead (`serving.sql_endpoint.GoldCatalog`). An operator's SAIL_SPARK__SESSION_TIMEOUT_SECS wins.
SAIL_SESSION_TIMEOUT = "SAIL_SPARK__SESSION_TIMEOUT_SECS"
SAIL_SESSION_IDLE_SECONDS = 10 * 365 * 24 * 3600


def start_sail_server(host: str = "127.0.0.1", *, global_temp_database: str | None = None,
                      idle_session_seconds: int | None = SAIL_SESSION_IDLE_SECONDS) -> Any:
    """Start a Sail Spark Connect server in this process on `host` (any free port) and return it.
    `global_temp_database` names the database that holds global temporary views;
    `idle_session_seconds` how long an unused session lives (None: Sail's default)."""
    os.environ.setdefault("RUST_LOG", "error")  # Rust's env_logger: keep shutdown chatter out of user output
    _fewer_fresh_pages()
    if global_temp_database is not None:  # read by Sail when the server starts
        os.environ["SAIL_CATALOG__GLOBAL_TEMPORARY_DATABASE"] = f'["{global_temp_database}"]'
    from pysail.spark import SparkConnectServer

    ours = SAIL_SESSION_TIMEOUT not in os.environ and idle_session_seconds is not None
    if ours:  # read when the server starts; not left behind for the next server of this process
        os.environ[SAIL_SESSION_TIMEOUT] = str(idle_session_seconds)
    try:
        server = SparkConnectServer(ip=host, port=0)
        server.start(background=True)
    finally:
        if ours:
            os.environ.pop(SAIL_SESSION_TIMEOUT, None)
    return server


def _fewer_fresh_pages() -> None:
    """Spare the kernel zeroing memory Sail never uses (before Sail's library is loaded).

    Sail's allocator (mimalloc) commits its arenas eagerly, and where transparent huge pages are
    on (`madvise`, the usual default) each page it touches first is a 2 MB page zeroed whole. The
    first large query of a process paid for it: silver.events at scale 1 spent 12 s of system
    time zeroing pages, against 0.2 s for the same query again. Arenas committed on demand
    (`MIMALLOC_ARENA_EAGER_COMMIT=0`, unless set otherwise) and no huge pages for this process
    (Linux's `PR_SET_THP_DISABLE`; its children inherit it) took the scale-1 pipeline from 22-23 s
    to 13-14 s (docs/engines.md)."""
    os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")  # read when the library is loaded
    if sys.platform == "linux":
        import ctypes

        with contextlib.suppress(OSError, AttributeError):  # best effort: only a cost
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)


_PR_SET_THP_DISABLE = 41


def _start_embedded_server() -> int:
    global _embedded_server
    if _embedded_server is None:
        server = start_sail_server()
        atexit.register(server.stop)
        _embedded_server = server
    return int(_embedded_server.listening_address[1])


def jvm_jars(config: Config, user: str = "engine 'spark'") -> list[str]:
    """The jars an Apache Spark JVM this process starts needs: every jar of `engine.jars_dir`
    (Delta's among them), and S3A's when the lake or the landing zone is on object storage (or
    `engine.s3a_jars: always`). `EngineError` naming `user` (what needs them) when they were not
    fetched."""
    jars_dir = config.jars_dir
    if jars_dir is None:
        return []
    jars = sorted(str(p) for p in Path(jars_dir).glob("*.jar"))
    if not any("delta-spark" in Path(j).name for j in jars):
        raise EngineError(
            f"{user} needs Delta's jars in {jars_dir}: run "
            "`mvn -f jvm/pom.xml dependency:copy-dependencies` (or `make setup`), "
            "or set engine.jars_dir to null when spark-submit provides them"
        )
    if s3a_settings(config) or config.engine.s3a_jars == "always":  # its SDK is 558 MB (jvm/s3a/pom.xml)
        s3a_dir = config.s3a_jars_dir
        s3a = sorted(str(p) for p in Path(s3a_dir).glob("*.jar")) if s3a_dir else []
        if not any("hadoop-aws" in Path(j).name for j in s3a):
            raise EngineError(
                f"{user} on object storage needs S3A's jars in {s3a_dir}: run "
                "`mvn -f jvm/s3a/pom.xml dependency:copy-dependencies` (or `make setup`)"
            )
        jars += s3a
    return jars


# Apache Spark replaces `${env:NAME}` and `${system:name}` in SQL text before parsing it: a query
# (or a bind parameter's value) would read the server's environment, API keys and S3 secret
# included, and a value holding `${...}` would be silently rewritten. Off in every session made
# here (Sail does not substitute).
SAFE_SQL_CONF = {"spark.sql.variable.substitute": "false"}


def _under_spark_submit() -> bool:
    # spark-submit starts the Python driver with these set; the JVM is already configured.
    return "PYSPARK_GATEWAY_PORT" in os.environ or "SPARK_SUBMIT_OPTS" in os.environ


def _spark_session(config: Config) -> SparkSession:
    builder = SparkSession.builder.appName("lakehouse")
    settings = dict(config.engine.conf)
    if not _under_spark_submit():
        if config.engine.spark_master:
            builder = builder.master(config.engine.spark_master)
        jars = jvm_jars(config)
        if jars:
            settings["spark.jars"] = ",".join(jars)
        settings.update(DELTA_CONF)
        settings.setdefault("spark.driver.memory", "4g")
        # Python workers run this interpreter (and its packages), not whatever python3 is on PATH.
        settings.setdefault("spark.pyspark.python", sys.executable)
        # PySpark's driver reads the workers' interpreter from PYSPARK_PYTHON (else `python3` on PATH).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        settings.setdefault("spark.sql.warehouse.dir", str(config.data_dir / "spark-warehouse"))
        options = [f"-Dderby.system.home={config.data_dir}", *jvm_archive.java_options(config)]
        settings.setdefault("spark.driver.extraJavaOptions", " ".join(options))
    s3a = s3a_settings(config)
    if not _under_spark_submit():  # the JVM PySpark starts reads its keys from this environment
        s3a, keys = s3a_for_jvm(config)
        os.environ.update(keys)
    for key, value in s3a.items():  # under spark-submit too: the driver makes the context
        settings.setdefault(key, value)
    settings.update(SAFE_SQL_CONF)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return _remember(session, _spark_profile(session.sparkContext.master or ""))


def _s3(config: Config) -> S3Settings | None:
    """The S3 settings of the lake or the landing zone when either is on object storage."""
    return next((loc.s3 for loc in (config.lake, config.landing) if loc.s3 is not None), None)


def s3a_settings(config: Config) -> dict[str, str]:
    """S3A settings from the standard AWS_* variables when the lake or the landing zone is on
    object storage (none otherwise). `s3://` is mapped to S3A too, so the JVM takes the same URIs
    as Sail and delta-rs; Delta picks its S3 log store (S3SingleDriverLogStore) for both schemes.
    Spark redacts the keys in its UI and logs (`spark.redaction.regex`)."""
    s3 = _s3(config)
    return s3.hadoop_conf() if s3 is not None else {}


def export_s3_defaults(config: Config) -> None:
    """Put the region and, for an http:// endpoint, AWS_ALLOW_HTTP into this process's environment
    when the lake or the landing zone is on S3, as the project's own clients default them: Sail
    reads only the environment (without them it fails with "failed to resolve region" or "URL
    scheme is not allowed"), and a JVM started from here inherits it. Never a credential."""
    s3 = _s3(config)
    for name, value in (s3.engine_env() if s3 is not None else {}).items():
        if os.environ.get(name) != value:
            log.info("engine environment: %s=%s (as the project's S3 clients use it)", name, value)
            os.environ[name] = value


def s3a_for_jvm(config: Config) -> tuple[dict[str, str], dict[str, str]]:
    """`s3a_settings` for an Apache Spark JVM this process starts, without keys, and the AWS_*
    variables that give the JVM the keys instead: a new JVM gets its settings on its command line,
    which `ps` shows to any local user; S3A's default credential chain reads the variables."""
    s3a = s3a_settings(config)
    return without_credentials(s3a), credentials_env(s3a)


CREDENTIAL_KEYS = {  # S3A's credential settings -> the variables S3A's default chain reads instead
    "spark.hadoop.fs.s3a.access.key": "AWS_ACCESS_KEY_ID",
    "spark.hadoop.fs.s3a.secret.key": "AWS_SECRET_ACCESS_KEY",
    "spark.hadoop.fs.s3a.session.token": "AWS_SESSION_TOKEN",
}


def without_credentials(settings: dict[str, str]) -> dict[str, str]:
    """S3A settings without keys or a fixed provider (the default chain then reads AWS_*)."""
    return {k: v for k, v in settings.items()
            if k not in CREDENTIAL_KEYS and k != "spark.hadoop.fs.s3a.aws.credentials.provider"}


def credentials_env(settings: dict[str, str]) -> dict[str, str]:
    """The AWS_* variables that carry the credentials of S3A `settings`."""
    return {CREDENTIAL_KEYS[k]: v for k, v in settings.items() if k in CREDENTIAL_KEYS}


def _remote_session(url: str, config: Config) -> SparkSession:
    builder = SparkSession.builder.remote(url)
    session = builder.getOrCreate()
    for key, value in config.engine.conf.items():
        if key.startswith("spark.sql."):
            session.conf.set(key, value)
    return session


def get_session(config: Config) -> SparkSession:
    """Return the session for `config.engine`, creating it on first use (getOrCreate)."""
    kind = config.engine.kind
    export_s3_defaults(config)  # before the engine first opens a bucket
    if kind == "embedded":
        port = _start_embedded_server()
        return _remember(_remote_session(f"sc://127.0.0.1:{port}", config), EMBEDDED)
    if kind == "connect":
        url = config.engine.connect_url
        if not url:
            raise EngineError("engine 'connect' needs engine.connect_url (sc://host:port)")
        session = _remote_session(url, config)
        return _remember(session, _connect_profile(session, url, config))
    return _spark_session(config)
