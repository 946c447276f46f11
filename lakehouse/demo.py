"""The rest of the lifecycle for `lakehouse demo`, after the batch pipeline: IoT readings streamed
through Kafka, the churn model (train, score, monitor), segments refreshed with the scores, and a
sync to a PostgreSQL CRM."""

from __future__ import annotations

import logging
from collections.abc import Callable

from lakehouse.config import Config
from lakehouse.locking import lake_lock
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake

log = logging.getLogger(__name__)

# What the generated sources get wrong on purpose (lakehouse/generate), said after the first run's
# summary so that its rejects and skipped files read as what they are.
PLANTED = (
    "The generated sources carry defects a real feed has, on purpose: one clickstream file a day is "
    "delivered twice (the re-delivered files skipped above), some lines are malformed (bronze.quarantine), "
    "some rows break silver's rules (silver.rejects)."
)


def run_stream(config: Config, lake: Lake, say: Callable[[str], None], days: int) -> str | None:
    """A local Kafka broker, the device swarm for a few seconds (days after the generated ones),
    the stream into bronze.telemetry, then silver and gold telemetry refreshed. None when it all
    ran, else what did not."""
    from lakehouse.streaming import broker
    from lakehouse.streaming.consumer import stream_telemetry
    from lakehouse.streaming.swarm import PublishError, publish

    try:
        kafka = broker.start(config.data_dir / "kafka")
    except broker.BrokerError as exc:
        say(f"streaming skipped: {exc}")
        return f"streaming skipped: {exc}"
    try:
        say(
            publish(
                kafka.bootstrap,
                40,
                rate=5000,
                duration=3,
                seed=config.generator.seed,
                start=config.generator.start_date,
                first_day=days,
            ).describe()
        )
        say(stream_telemetry(config, lake, kafka.bootstrap, until_idle=2, max_seconds=60).describe())
    except PublishError as exc:  # the readings the broker acknowledged stay in its topic
        say(f"streaming stopped: {exc}")
        return f"streaming stopped: {exc}"
    finally:
        broker.stop(kafka)
    summary = run_jobs(config, lake, select_jobs(["silver_telemetry", "gold_cold_chain_daily"]))
    if summary.failed:
        failed = summary.failed[0]
        say(f"{failed.job} {failed.status}: {failed.error}")
        return f"{failed.job} {failed.status} after the stream: {failed.error}"
    say("silver.telemetry and gold.cold_chain_daily refreshed with the streamed readings")
    return None


def run_lifecycle(config: Config, lake: Lake, say: Callable[[str], None], days: int = 0) -> list[str]:
    """Each step says what it did; a step that cannot run says why. What did not run, in order;
    empty when every step ran. Every step writes tables, so they all run holding the lake's lock
    (LakeBusy when another run holds it), as `lakehouse run` does."""
    with lake_lock(config.data_dir, 0.0, config.lake, config.storage.lock_lease_seconds):
        return _lifecycle(config, lake, say, days)


def _lifecycle(config: Config, lake: Lake, say: Callable[[str], None], days: int) -> list[str]:
    from lakehouse.ml.monitor import monitor
    from lakehouse.ml.score import score
    from lakehouse.ml.train import NotEnoughData, train
    from lakehouse.reverse_etl.demo import run_sync_demo

    missed = [problem] if (problem := run_stream(config, lake, say, days)) else []
    try:
        say(train(config, lake).describe())
    except NotEnoughData as exc:
        say(f"churn model skipped: {exc}")
        return [*missed, f"churn model skipped: {exc}"]
    say(score(config, lake).describe())
    segments = run_jobs(config, lake, select_jobs(["gold_customer_segments"]))
    if segments.failed:
        say(f"gold.customer_segments failed: {segments.failed[0].error}")
        return [*missed, f"gold.customer_segments failed: {segments.failed[0].error}"]
    say(f"gold.customer_segments: {lake.row_count('gold.customer_segments'):,} customers, with churn scores")
    say(monitor(config, lake).describe())
    say("CRM: " + run_sync_demo(config, lake).describe())
    return missed
