"""`lakehouse s3|cluster|connect-server start|stop`: servers the project starts for itself, each kept
in a folder under <data_dir>."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Annotated

import typer

from lakehouse.console import console, err, need_extras, state

s3_app = typer.Typer(no_args_is_help=True, help="A local S3 API server (s3proxy) for the lake and landing zone.")
cluster_app = typer.Typer(no_args_is_help=True, help="A Spark standalone cluster on this machine (master and workers).")
connect_app = typer.Typer(
    no_args_is_help=True, help="Apache Spark's own Spark Connect server, with Delta (for --engine connect)."
)
S3Folder = Annotated[Path | None, typer.Option("--data-dir", help="Server folder (default <data_dir>/s3).")]


def s3_folder(folder: Path | None = None) -> Path:
    return folder or state.config.data_dir / "s3"


@s3_app.command("start")
def s3_start(
    port: Annotated[int | None, typer.Option(help="Port (default: the one it had, else free).", min=1, max=65535)]
    = None,
    data_dir: S3Folder = None,
) -> None:
    """Start the server in the background and print the variables S3 clients read (secret included),
    after an `unset` of this environment's other AWS_* variables, which some clients would read
    over them (`eval "$(lakehouse s3 start)"` then points a shell at this server alone)."""
    need_extras("lakehouse s3 start", "services")
    from lakehouse import s3server

    folder = s3_folder(data_dir)
    try:
        started = s3server.start(folder, port)
    except s3server.S3ServerError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    err.print(f"S3 server on {started.endpoint} (buckets in {folder / 'buckets'}); for its clients:", highlight=False)
    _, replaced = s3server.own_environment(os.environ, started)
    # only names a shell can unset: anything else in the environment cannot be eval'd safely
    others = [name for name in replaced if name not in started.env() and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]
    if others:
        console.print("unset " + " ".join(others), markup=False, highlight=False, soft_wrap=True)
    for name, value in started.env().items():
        console.print(f"export {name}={shlex.quote(value)}", markup=False, highlight=False, soft_wrap=True)


@s3_app.command("stop")
def s3_stop(data_dir: S3Folder = None) -> None:
    """Stop the server (its buckets stay in its folder)."""
    from lakehouse import s3server

    stopped = s3server.stop(s3_folder(data_dir))
    console.print("S3 server stopped" if stopped else "no S3 server was running", highlight=False)


ClusterFolder = Annotated[Path | None, typer.Option("--data-dir", help="Cluster folder (default <data_dir>/cluster).")]


def cluster_folder(folder: Path | None = None) -> Path:
    return folder or state.config.data_dir / "cluster"


@cluster_app.command("start")
def cluster_start(
    workers: Annotated[int, typer.Option(min=1, help="Workers, each in its own JVM.")] = 2,
    port: Annotated[int | None, typer.Option(help="The master's port (default: free).", min=1, max=65535)] = None,
    cores: Annotated[int, typer.Option(min=1, help="Cores each worker offers.")] = 1,
    memory: Annotated[str, typer.Option(help="Memory each worker offers to executors (e.g. 1g).")] = "1g",
    data_dir: ClusterFolder = None,
) -> None:
    """Start a master and workers in the background; print the master URL once every worker registered."""
    from lakehouse import cluster

    folder = cluster_folder(data_dir)
    try:
        started = cluster.start(folder, workers, port, cores, memory)
    except cluster.ClusterError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    err.print(f"Spark master with {workers} worker(s), web UI {started.webui_url}, logs in {folder}", highlight=False)
    console.print(started.master_url, highlight=False)


@cluster_app.command("stop")
def cluster_stop(data_dir: ClusterFolder = None) -> None:
    """Stop the workers and the master."""
    from lakehouse import cluster

    stopped = cluster.stop(cluster_folder(data_dir))
    console.print("Spark cluster stopped" if stopped else "no Spark cluster was running", highlight=False)


ConnectFolder = Annotated[
    Path | None, typer.Option("--data-dir", help="Server folder (default <data_dir>/connect-server).")
]


@connect_app.command("start")
def connect_start(
    port: Annotated[int | None, typer.Option(help="gRPC port (default: free).", min=1, max=65535)] = None,
    master: Annotated[str, typer.Option(help="Where the server runs its jobs: local[N] or spark://host:port.")] = (
        "local[2]"
    ),
    conf: Annotated[list[str] | None, typer.Option(help="More Spark settings, KEY=VALUE (repeatable).")] = None,
    data_dir: ConnectFolder = None,
) -> None:
    """Start the server in the background with Delta's jars (and S3A's, with its settings, when the
    lake or the landing zone is on S3); print its sc:// URL once it accepts connections."""
    from lakehouse import connect_server, jvm_archive
    from lakehouse.engine import EngineError, jvm_jars, s3a_for_jvm

    config = state.config
    settings = dict(item.split("=", 1) for item in conf or [] if "=" in item)
    if len(settings) != len(conf or []):
        err.print("[red]error:[/red] --conf takes KEY=VALUE")
        raise typer.Exit(2)
    folder = data_dir or config.data_dir / "connect-server"
    s3a, keys = s3a_for_jvm(config)  # the keys reach the server through its environment only
    try:
        jars = jvm_jars(config, "the Spark Connect server")
        started = connect_server.start(
            folder, jars, port, master, jvm_archive.java_options(config), {**s3a, **settings}, env=keys
        )
    except (EngineError, connect_server.ConnectServerError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if s3a:
        where = next(loc for loc in (config.lake, config.landing) if not loc.is_local)
        err.print(f"S3A for {where.where()}: settings on the server's command line, keys in its environment",
                  highlight=False, soft_wrap=True)
    err.print(
        f"Spark Connect server (master {master}, log {folder / 'connect.log'}); use it with "
        f"`export LAKEHOUSE_ENGINE=connect LAKEHOUSE_ENGINE__CONNECT_URL={started.url}`",
        highlight=False,
        soft_wrap=True,
    )
    console.print(started.url, highlight=False)


@connect_app.command("stop")
def connect_stop(data_dir: ConnectFolder = None) -> None:
    """Stop the server."""
    from lakehouse import connect_server

    stopped = connect_server.stop(data_dir or state.config.data_dir / "connect-server")
    console.print("Spark Connect server stopped" if stopped else "no Spark Connect server was running", highlight=False)
