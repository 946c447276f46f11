"""Apache Spark's own Spark Connect server (the `spark-connect` jar inside pyspark), with Delta:
`--engine connect` against a server that is not Sail.

`start` submits `SparkConnectServer` with the jars Maven fetched and Delta's extension and catalog,
in the background (pid file and log in its folder), and waits until its gRPC port accepts
connections; `stop` stops it and waits. With the lake on object storage the caller adds S3A's jars
and settings (`lakehouse.engine.jvm_jars`, `s3a_for_jvm`): the settings on the command line, the
keys only in the server's environment (`env`), never on its command line, which `ps` shows.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lakehouse import daemons
from lakehouse.cluster import spark_home
from lakehouse.engine import DELTA_CONF, SAFE_SQL_CONF

log = logging.getLogger(__name__)
MAIN = "org.apache.spark.sql.connect.service.SparkConnectServer"


class ConnectServerError(daemons.DaemonError):
    """The server could not start (the message says why and where its log is)."""


@dataclass(frozen=True)
class ConnectServer:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"


def _marker(folder: Path) -> str:
    # on the server's command line: which folder it belongs to (see `daemons.running`)
    return f"-Dlakehouse.connect={folder}"


def command(
    folder: Path,
    port: int,
    master: str,
    jars: Sequence[Path],
    java_options: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
) -> list[str]:
    """The spark-submit command line of the server (`conf` is added last: it may override)."""
    settings = {
        **DELTA_CONF,
        "spark.sql.session.timeZone": "UTC",
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.warehouse.dir": str(folder / "spark-warehouse"),
        "spark.ui.enabled": "false",
        **(conf or {}),
        **SAFE_SQL_CONF,  # after `conf`: no ${env:...} reads whatever the caller asked
    }
    args = [str(spark_home() / "bin" / "spark-submit"), "--class", MAIN, "--name", "Spark Connect server"]
    args += ["--master", master, "--driver-java-options", " ".join([_marker(folder), *java_options])]
    if jars:
        args += ["--jars", ",".join(str(jar) for jar in jars)]
    for key, value in settings.items():
        args += ["--conf", f"{key}={value}"]
    return [*args, "spark-internal"]


def running(folder: Path) -> int | None:
    """The server's pid when the one kept in `folder` runs."""
    folder = folder.resolve()
    return daemons.running(folder / "connect.pid", _marker(folder))


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def start(
    folder: Path,
    jars: Sequence[Path | str],
    port: int | None = None,
    master: str = "local[2]",
    java_options: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
    timeout: float = 180.0,
    env: Mapping[str, str] | None = None,
) -> ConnectServer:
    """Start the server kept in `folder` with `jars` (Delta's among them: `engine.jvm_jars`),
    `conf` on its command line and `env` (keys) added to its environment."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if running(folder):
        raise ConnectServerError(f"a Spark Connect server is running from {folder}: stop it first")
    server = ConnectServer(folder, port or daemons.free_port())
    pid_file, log_file = folder / "connect.pid", folder / "connect.log"
    args = command(folder, server.port, master, [Path(jar) for jar in jars], java_options, conf)
    daemons.spawn(args, pid_file, log_file, env)
    try:
        daemons.wait_until(lambda: _accepts(server.port), pid_file, timeout, "the Spark Connect server", log_file)
    except daemons.DaemonError as exc:
        stop(folder)
        raise ConnectServerError(str(exc)) from None
    log.info("Spark Connect server on %s (master %s)", server.url, master)
    return server


def stop(folder: Path, timeout: float = 30.0) -> bool:
    """Stop the server and wait for it; False when none was running."""
    folder = folder.resolve()
    return daemons.stop(folder / "connect.pid", _marker(folder), timeout=timeout)
