"""The rest of the lifecycle for `lakehouse demo`, after the pipeline: the churn model (train,
score, monitor), segments refreshed with the scores, and a sync to a PostgreSQL CRM."""

from __future__ import annotations

import logging
from collections.abc import Callable

from lakehouse.config import Config
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake

log = logging.getLogger(__name__)


def run_lifecycle(config: Config, lake: Lake, say: Callable[[str], None]) -> bool:
    """Each step says what it did; a step that cannot run says why. True when every step ran."""
    from lakehouse.ml.monitor import monitor
    from lakehouse.ml.score import score
    from lakehouse.ml.train import NotEnoughData, train
    from lakehouse.reverse_etl.demo import run_sync_demo

    try:
        say(train(config, lake).describe())
    except NotEnoughData as exc:
        say(f"churn model skipped: {exc}")
        return False
    say(score(config, lake).describe())
    segments = run_jobs(config, lake, select_jobs(["gold_customer_segments"]))
    if segments.failed:
        say(f"gold.customer_segments failed: {segments.failed[0].error}")
        return False
    say(f"gold.customer_segments: {lake.row_count('gold.customer_segments'):,} customers, with churn scores")
    say(monitor(config, lake).describe())
    say("CRM: " + run_sync_demo(config, lake).describe())
    return True
