"""A single-node Apache Kafka broker (KRaft: broker and controller in one process), run with the
machine's Java from the jars Maven fetched into `jvm/kafka/target/jars`.

`start` formats the storage on first use, starts the broker in the background (pid file and log
under the broker's folder) and waits until it answers; `stop` stops it and waits. The broker keeps
its data between starts, so a restart loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lakehouse.daemons import free_port

log = logging.getLogger(__name__)
JARS = Path(__file__).resolve().parents[2] / "jvm" / "kafka" / "target" / "jars"
LOG4J = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
"""


class BrokerError(RuntimeError):
    """The broker could not start or stop (the message says why and where its log is)."""


@dataclass(frozen=True)
class Broker:
    folder: Path
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.folder / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.folder / "broker.log"


def _properties(folder: Path, port: int, controller_port: int) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={folder / 'data'}",
            "num.partitions=2",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def _java(folder: Path, main: str, *args: str) -> list[str]:
    if not any(JARS.glob("kafka_*.jar")):
        raise BrokerError(f"no Kafka jars in {JARS}: run `mvn -f jvm/kafka/pom.xml dependency:copy-dependencies`")
    return [
        "java",
        "-Xms128m",
        "-Xmx512m",
        f"-Dlog4j2.configurationFile={folder / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={folder}",
        "-cp",
        str(JARS / "*"),
        main,
        *args,
    ]


def running(broker: Broker) -> int | None:
    """The broker's pid when it is running. A pid file left by a broker that died is stale: its
    pid may since belong to another process (pids are reused), which must not be stopped for it,
    so where the system shows command lines, the process must be this folder's broker."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pid = int(broker.pid_file.read_text().split()[0])
        os.kill(pid, 0)
        if Path("/proc/self/cmdline").exists():
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            properties = str(broker.folder.resolve() / "server.properties").encode()
            if b"kafka.Kafka" not in words or properties not in words:
                return None
        return pid
    return None


def _answers(broker: Broker) -> bool:
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0}).list_topics(timeout=1)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


def start(folder: Path, port: int | None = None, timeout: float = 60.0) -> Broker:
    """Start (or find running) the broker kept in `folder`; the port is remembered between starts."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    port_file = folder / "port"
    if port is None:
        port = int(port_file.read_text()) if port_file.exists() else free_port()
    broker = Broker(folder, port)
    if running(broker):
        return broker
    properties = folder / "server.properties"
    properties.write_text(_properties(folder, port, free_port()))
    (folder / "log4j2.properties").write_text(LOG4J.format(log=folder / "broker.log"))
    port_file.write_text(str(port))
    if not (folder / "data" / "meta.properties").exists():
        cluster = str(uuid.uuid4()).replace("-", "")[:22]
        fmt = _java(folder, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(properties))
        done = subprocess.run(fmt, capture_output=True, text=True)
        if done.returncode != 0:
            said = "\n".join(part.strip()[-500:] for part in (done.stdout, done.stderr) if part.strip())
            raise BrokerError(f"formatting Kafka storage failed (exit code {done.returncode}): {said or 'no output'}")
    with (folder / "broker.out").open("ab") as out:
        process = subprocess.Popen(
            _java(folder, "kafka.Kafka", str(properties)), stdout=out, stderr=out, start_new_session=True
        )
    broker.pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while not _answers(broker):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(broker)
            raise BrokerError(f"Kafka did not start on {broker.bootstrap}; see {folder / 'broker.out'}")
        time.sleep(0.3)
    log.info("Kafka broker on %s (pid %d)", broker.bootstrap, process.pid)
    return broker


def stop(broker: Broker, timeout: float = 30.0) -> bool:
    """Stop the broker (SIGTERM, then SIGKILL after `timeout`); False when none was running."""
    pid = running(broker)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    broker.pid_file.unlink(missing_ok=True)
    return True


def kill(broker: Broker) -> None:
    """SIGKILL the broker (tests: a broker crash)."""
    pid = running(broker)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        broker.pid_file.unlink(missing_ok=True)
