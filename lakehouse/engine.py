"""The one place that makes a SparkSession.

Three kinds, chosen by `engine.kind` (or `--engine`):

* `embedded`: Sail (pysail), a Rust Spark Connect server started in this process. The default.
* `spark`: Apache Spark on the JVM with Delta. Under spark-submit, the master and jars come from
  spark-submit; elsewhere the session runs `engine.spark_master` with the jars Maven fetched.
* `connect`: any Spark Connect server at `engine.connect_url`.

One Python process holds one engine: a classic JVM session and a Spark Connect session cannot
coexist behind the generic builder.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from lakehouse import jvm_archive
from lakehouse.config import Config

log = logging.getLogger(__name__)

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

_embedded_server: Any = None


class EngineError(RuntimeError):
    """The requested engine cannot be started; the message says what is missing."""


def _start_embedded_server() -> int:
    global _embedded_server
    if _embedded_server is None:
        # The server logs through Rust's env_logger: keep its shutdown chatter out of user output.
        os.environ.setdefault("RUST_LOG", "error")
        from pysail.spark import SparkConnectServer

        server = SparkConnectServer(ip="127.0.0.1", port=0)
        server.start(background=True)
        atexit.register(server.stop)
        _embedded_server = server
    return int(_embedded_server.listening_address[1])


def _jvm_jars(config: Config) -> list[str]:
    jars_dir = config.jars_dir
    if jars_dir is None:
        return []
    jars = sorted(str(p) for p in Path(jars_dir).glob("*.jar"))
    if not any("delta-spark" in Path(j).name for j in jars):
        raise EngineError(
            f"engine 'spark' needs Delta's jars in {jars_dir}: run "
            "`mvn -f jvm/pom.xml dependency:copy-dependencies` (or `make setup`), "
            "or set engine.jars_dir to null when spark-submit provides them"
        )
    return jars


def _under_spark_submit() -> bool:
    # spark-submit starts the Python driver with these set; the JVM is already configured.
    return "PYSPARK_GATEWAY_PORT" in os.environ or "SPARK_SUBMIT_OPTS" in os.environ


def _spark_session(config: Config) -> SparkSession:
    builder = SparkSession.builder.appName("lakehouse")
    settings = dict(config.engine.conf)
    if not _under_spark_submit():
        if config.engine.spark_master:
            builder = builder.master(config.engine.spark_master)
        jars = _jvm_jars(config)
        if jars:
            settings["spark.jars"] = ",".join(jars)
        settings.update(DELTA_CONF)
        settings.setdefault("spark.driver.memory", "4g")
        # Python workers run this interpreter (and its packages), not whatever python3 is on PATH.
        settings.setdefault("spark.pyspark.python", sys.executable)
        # PySpark's driver reads the workers' interpreter from PYSPARK_PYTHON (else `python3` on PATH).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        settings.setdefault("spark.sql.warehouse.dir", str(config.data_dir / "spark-warehouse"))
    for key, value in s3a_settings(config).items():  # under spark-submit too: the driver makes the context
        settings.setdefault(key, value)
        options = [f"-Dderby.system.home={config.data_dir}", *jvm_archive.java_options(config)]
        settings.setdefault("spark.driver.extraJavaOptions", " ".join(options))
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def s3a_settings(config: Config) -> dict[str, str]:
    """S3A settings from the standard AWS_* variables when the lake or the landing zone is on
    object storage (none otherwise). `s3://` is mapped to S3A too, so the JVM takes the same URIs
    as Sail and delta-rs; Delta picks its S3 log store (S3SingleDriverLogStore) for both schemes.
    Spark redacts the keys in its UI and logs (`spark.redaction.regex`)."""
    s3 = next((loc.s3 for loc in (config.lake, config.landing) if loc.s3 is not None), None)
    return s3.hadoop_conf() if s3 is not None else {}


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
    if kind == "embedded":
        port = _start_embedded_server()
        return _remote_session(f"sc://127.0.0.1:{port}", config)
    if kind == "connect":
        if not config.engine.connect_url:
            raise EngineError("engine 'connect' needs engine.connect_url (sc://host:port)")
        return _remote_session(config.engine.connect_url, config)
    return _spark_session(config)


def engine_name(spark: SparkSession) -> str:
    """'spark' for a classic JVM session, 'connect' for any Spark Connect session (Sail included)."""
    return "connect" if type(spark).__module__.startswith("pyspark.sql.connect") else "spark"
