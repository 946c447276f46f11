"""Entry point shared by the thin `jobs/*.py` scripts that spark-submit runs.

`jobs/silver_orders.py` calls `main(["silver_orders"])`; `jobs/pipeline.py` runs every job.
The engine defaults to `spark` here: under spark-submit the session is the one spark-submit made.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from lakehouse.config import ConfigError, load_config
from lakehouse.engine import get_session
from lakehouse.files import StorageError
from lakehouse.locking import LakeBusy
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.sources.found import looked_in, missing_all
from lakehouse.storage import Lake

log = logging.getLogger("lakehouse.job")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run lakehouse jobs (spark-submit entry point).")
    parser.add_argument("--env", default=None, help="conf/<env>.yaml to load")
    parser.add_argument("--engine", default="spark", choices=["spark", "embedded", "connect"])
    parser.add_argument("--data-dir", default=None, help="root of sources/ and lake/")
    parser.add_argument("--run-date", default=None, help="as-of date for gold (YYYY-MM-DD)")
    parser.add_argument("-v", "--verbose", action="store_true", help="the libraries' INFO logs too")
    return parser.parse_args(argv)


def configure_logging(verbose: bool) -> None:
    """The jobs' own progress at INFO; the libraries' (Great Expectations registering functions,
    py4j, MLflow) only from WARNING, unless `verbose`."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("lakehouse").setLevel(logging.INFO)


def main(job_names: Sequence[str], argv: Sequence[str] | None = None) -> int:
    """Run `job_names` (all jobs when empty) and return a process exit code."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    configure_logging(args.verbose)
    overrides = {"engine.kind": args.engine, "data_dir": args.data_dir, "pipeline.run_date": args.run_date}
    try:
        config = load_config(args.env, overrides)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    jobs = select_jobs(job_names)
    try:
        if missing_all(config, [job.name for job in jobs]):
            log.error("no sources found in %s: run `lakehouse generate` there, or pass --data-dir", looked_in(config))
            return 2
        lake = Lake.for_command(get_session(config), config.lake)
        summary = run_jobs(config, lake, jobs)
    except StorageError as exc:  # the store cannot be reached: one line naming endpoint and bucket
        log.error("%s", exc)
        return 1
    except LakeBusy as exc:
        log.error("%s", exc)
        return 3
    for report in summary.reports:
        outcome = report.outcome
        log.info(
            "%-24s %-8s rows_in=%d rows_out=%d rejects=%d %.2fs %s",
            report.job, report.status, outcome.rows_in, outcome.rows_out, outcome.rejects,
            report.duration_s, report.error or outcome.note,
        )
    for report in summary.waiting:
        log.error("%s did not run: %s", report.job, report.outcome.note)
    return summary.exit_code
