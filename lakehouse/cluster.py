"""A Spark standalone cluster on this machine: one master and N workers, each in its own JVM,
run from the Spark inside the pyspark package (`SPARK_HOME` is that package's folder).

`start` starts them in the background (pid files and logs under the cluster's folder) and waits
until the master's web UI lists every worker alive; `stop` stops the workers, then the master.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from lakehouse import daemons

log = logging.getLogger(__name__)
MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


class ClusterError(daemons.DaemonError):
    """The cluster could not start (the message says why and where the logs are)."""


@dataclass(frozen=True)
class Cluster:
    folder: Path
    port: int
    webui_port: int
    workers: int

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    @property
    def webui_url(self) -> str:
        return f"http://127.0.0.1:{self.webui_port}"

    def alive_workers(self) -> int:
        """How many workers the master lists alive (0 when it does not answer)."""
        try:
            state = httpx.get(f"{self.webui_url}/json/", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            return 0
        return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark package."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _marker(folder: Path) -> str:
    # on every daemon's command line: which cluster folder it belongs to (see `daemons.running`)
    return f"-Dlakehouse.cluster={folder}"


def _env(folder: Path) -> dict[str, str]:
    return {
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": "256m",  # the master and workers only coordinate; executors get their own JVMs
        "SPARK_DAEMON_JAVA_OPTS": _marker(folder),
    }


def _class(main: str, *args: str) -> list[str]:
    return [str(spark_home() / "bin" / "spark-class"), main, *args]


def _pid_files(folder: Path) -> list[Path]:
    """Workers first (stopped before the master), then the master."""
    return [*sorted(folder.glob("worker-*.pid")), folder / "master.pid"]


def running(folder: Path) -> list[int]:
    """The pids of the cluster's daemons that run."""
    folder = folder.resolve()
    pids = (daemons.running(pid_file, _marker(folder)) for pid_file in _pid_files(folder))
    return [pid for pid in pids if pid is not None]


def start(
    folder: Path,
    workers: int = 2,
    port: int | None = None,
    cores: int = 1,
    memory: str = "1g",
    timeout: float = 120.0,
) -> Cluster:
    """Start a master and `workers` workers (each offering `cores` cores and `memory`) kept in `folder`."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if running(folder):
        raise ClusterError(f"a cluster is running from {folder}: stop it first (`lakehouse cluster stop`)")
    cluster = Cluster(folder, port or daemons.free_port(), daemons.free_port(), workers)
    env = _env(folder)
    master = folder / "master.pid"
    master_args = ["--host", "127.0.0.1", "--port", str(cluster.port), "--webui-port", str(cluster.webui_port)]
    daemons.spawn(_class(MASTER, *master_args), master, folder / "master.log", env)
    try:
        daemons.wait_until(lambda: _answers(cluster), master, timeout, "the Spark master", folder / "master.log")
        for n in range(1, workers + 1):
            work = folder / f"worker-{n}"
            work.mkdir(exist_ok=True)
            worker_args = ["--host", "127.0.0.1", "--cores", str(cores), "--memory", memory]
            worker_args += ["--webui-port", "0", "--work-dir", str(work), cluster.master_url]
            daemons.spawn(_class(WORKER, *worker_args), folder / f"worker-{n}.pid", folder / f"worker-{n}.log", env)
        what = f"{workers} worker(s)"
        daemons.wait_until(lambda: cluster.alive_workers() >= workers, master, timeout, what, folder)
    except daemons.DaemonError as exc:
        stop(folder)
        raise ClusterError(str(exc)) from None
    log.info("Spark master %s with %d worker(s) (web UI %s)", cluster.master_url, workers, cluster.webui_url)
    return cluster


def _answers(cluster: Cluster) -> bool:
    try:
        return httpx.get(f"{cluster.webui_url}/json/", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop(folder: Path, timeout: float = 30.0) -> bool:
    """Stop the workers, then the master, and wait for each; False when none was running."""
    folder = folder.resolve()
    stopped = [daemons.stop(pid_file, _marker(folder), timeout=timeout) for pid_file in _pid_files(folder)]
    return any(stopped)
