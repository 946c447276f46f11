"""`lakehouse kafka start|stop`, `lakehouse iot publish`, `lakehouse stream telemetry`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lakehouse.config import Config
from lakehouse.console import console, err, need_extras, state

kafka_app = typer.Typer(no_args_is_help=True, help="A local single-node Kafka broker (KRaft).")
iot_app = typer.Typer(no_args_is_help=True, help="The IoT device swarm.")
stream_app = typer.Typer(no_args_is_help=True, help="Streaming ingestion from Kafka.")
Folder = Annotated[Path | None, typer.Option("--data-dir", help="Broker folder (default <data_dir>/kafka).")]


def broker_folder(config: Config, folder: Path | None = None) -> Path:
    return folder or config.data_dir / "kafka"


def bootstrap(config: Config) -> str:
    """LAKEHOUSE_KAFKA_BOOTSTRAP, else `kafka.bootstrap`, else the local broker (which must be running)."""
    from lakehouse.streaming import broker

    explicit = os.environ.get("LAKEHOUSE_KAFKA_BOOTSTRAP") or config.kafka.bootstrap
    if explicit:
        return explicit
    local = broker_folder(config)
    port = local / "port"
    if port.exists() and broker.running(broker.Broker(local, int(port.read_text()))):
        return f"127.0.0.1:{port.read_text().strip()}"
    err.print("[red]error:[/red] no Kafka broker: set LAKEHOUSE_KAFKA_BOOTSTRAP or run `lakehouse kafka start`")
    raise typer.Exit(2)


@kafka_app.command("start")
def kafka_start(
    port: Annotated[int | None, typer.Option(help="Port (default: free).")] = None, data_dir: Folder = None
) -> None:
    """Start the broker in the background (formats its storage the first time)."""
    need_extras("lakehouse kafka start", "stream")
    from lakehouse.streaming import broker

    try:
        started = broker.start(broker_folder(state.config, data_dir), port)
    except broker.BrokerError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"Kafka on {started.bootstrap} (log {started.log_file}); export LAKEHOUSE_KAFKA_BOOTSTRAP={started.bootstrap}",
        highlight=False,
    )


@kafka_app.command("stop")
def kafka_stop(data_dir: Folder = None) -> None:
    """Stop the broker."""
    from lakehouse.streaming import broker

    folder = broker_folder(state.config, data_dir)
    port = folder / "port"
    stopped = port.exists() and broker.stop(broker.Broker(folder, int(port.read_text())))
    console.print("Kafka stopped" if stopped else "no Kafka broker was running", highlight=False)


@iot_app.command("publish")
def iot_publish(
    devices: Annotated[int, typer.Option(help="Devices in the swarm.", min=1)] = 50,
    rate: Annotated[float, typer.Option(help="Readings per second, all devices together.", min=0.01)] = 1000.0,
    duration: Annotated[float, typer.Option(help="Seconds to publish.")] = 10.0,
    first_day: Annotated[
        int, typer.Option(help="Simulated day to start from (a later run continues with a later day).")
    ] = 0,
) -> None:
    """Produce readings to fleet.telemetry, keyed by device_id, with the replay files' defects."""
    need_extras("lakehouse iot publish", "stream")
    from lakehouse.streaming.swarm import PublishError, publish

    config = state.config
    try:
        result = publish(
            bootstrap(config),
            devices,
            rate,
            duration,
            seed=config.generator.seed,
            start=config.generator.start_date,
            first_day=first_day,
        )
    except PublishError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(result.describe(), highlight=False)


@stream_app.command("telemetry")
def stream_telemetry(
    until_idle: Annotated[float | None, typer.Option(help="Stop after this many seconds without messages.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds in all.")] = None,
) -> None:
    """Land fleet.telemetry in bronze.telemetry exactly once (SIGTERM: finish the batch, then exit)."""
    need_extras("lakehouse stream telemetry", "stream")
    from lakehouse.streaming.consumer import stream_telemetry as run

    config = state.config
    servers = bootstrap(config)
    with state.exclusive():
        result = run(config, state.lake(), servers, until_idle or config.kafka.until_idle_seconds, max_seconds)
    console.print(result.describe(), highlight=False, soft_wrap=True)
