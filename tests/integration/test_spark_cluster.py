"""The Spark standalone cluster the project starts: a master and two workers in their own JVMs,
both registered with the master (stopping them is checked when the run's cluster is torn down),
and `spark-submit.sh pipeline` run on it with the lake and landing zone on the project's S3 server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from lakehouse import cluster
from lakehouse.cli import app
from lakehouse.config import PROJECT_ROOT, Config
from lakehouse.s3server import S3Server
from tests.integration import lakes

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


# Spark's own defaults (conf/base.yaml keeps them), which conf/test.yaml turns off for small tables
COMPILED = json.dumps({"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"})


def test_the_pipeline_on_the_cluster_with_the_lake_on_s3_equals_the_embedded_run(
    spark_cluster: cluster.Cluster, small_world: Config, s3_server: S3Server, tmp_path: Path
) -> None:
    """`./spark-submit.sh --master spark://... pipeline` as the README runs it, with landing and lake
    in a bucket: silver and gold equal, row by row, the same small world built by the embedded engine
    on local disk. Once per `make test`, in the pass the cluster fixture runs in (conftest.py). The
    cluster compiles its queries, as a production run does; the other Spark tests run them
    interpreted (conf/test.yaml)."""
    root = lakes.new_bucket(s3_server, "cluster")
    lakes.sources_on_s3(small_world, root, tmp_path)
    apps_before = set(spark_cluster.folder.glob("worker-*/app-*"))
    log = tmp_path / "spark-submit.log"
    with log.open("w") as out:
        done = subprocess.run(
            [str(PROJECT_ROOT / "spark-submit.sh"), "--master", spark_cluster.master_url, "--driver-memory", "1g",
             "pipeline", "--env", "test", "--data-dir", str(tmp_path)],
            env=lakes.env(s3_server, root, PYSPARK_PYTHON=sys.executable, LAKEHOUSE_ENGINE__CONF=COMPILED),
            stdout=out, stderr=subprocess.STDOUT,
            timeout=1500,
        )
    assert done.returncode == 0, log.read_text()[-4000:]
    assert not (tmp_path / "lake").exists()  # every table in the bucket
    lakes.assert_same_tables(root / "lake", small_world.lake)
    # the jobs ran on both workers' executors, which took Delta and S3A from the jars folder on
    # their class path rather than copying every jar (the AWS SDK: 558 MB) into their work folders
    apps = set(spark_cluster.folder.glob("worker-*/app-*")) - apps_before
    assert {app.parent.name for app in apps} == {"worker-1", "worker-2"}, apps
    assert not [jar for app in apps for jar in app.rglob("*.jar")]
