"""The Spark standalone cluster the project starts: a master and two workers in their own JVMs,
both registered with the master (stopping them is checked when the run's cluster is torn down)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from lakehouse import cluster
from lakehouse.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_the_master_lists_both_workers_alive(spark_cluster: cluster.Cluster) -> None:
    state = httpx.get(f"{spark_cluster.webui_url}/json/", timeout=5).json()
    assert state["url"] == spark_cluster.master_url
    alive = [worker for worker in state["workers"] if worker["state"] == "ALIVE"]
    assert len(alive) == 2
    assert [(worker["cores"], worker["memory"]) for worker in alive] == [(1, 1024), (1, 1024)]
    assert spark_cluster.alive_workers() == 2


def test_master_and_workers_run_in_their_own_jvms(spark_cluster: cluster.Cluster) -> None:
    pids = cluster.running(spark_cluster.folder)
    assert len(set(pids)) == 3
    mains = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in pids]
    assert sum(cluster.WORKER.encode() in args for args in mains) == 2
    assert sum(cluster.MASTER.encode() in args for args in mains) == 1


def test_a_second_start_from_a_running_cluster_folder_is_refused(spark_cluster: cluster.Cluster) -> None:
    result = runner.invoke(app, ["--env", "test", "cluster", "start", "--data-dir", str(spark_cluster.folder)])
    assert result.exit_code == 2
    assert "a cluster is running from" in result.output
    assert spark_cluster.alive_workers() == 2


def test_stop_where_no_cluster_runs_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--env", "test", "cluster", "stop", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "no Spark cluster was running" in result.stdout
