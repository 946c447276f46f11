"""Run Great Expectations suites on engine DataFrames, keeping results for Data Docs.

Great Expectations 1.x validates Spark DataFrames, classic and Spark Connect (so Sail) alike. The
context is a file context under `<data_dir>/quality/gx`: suites, the latest validation results
and the Data Docs site live there, beside the lake they describe.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage reporting from a data platform

import great_expectations as gx  # noqa: E402
from great_expectations.checkpoint import Checkpoint  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.data_context.context_factory import project_manager  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from pyspark.sql import DataFrame  # noqa: E402

from lakehouse.quality.checks import CheckResult  # noqa: E402

log = logging.getLogger(__name__)
DATASOURCE = "lake"
# Checks run with the cheapest result format; a suite with a failure runs again with details
# (counts, example values), which costs about twice as much but only happens when something is wrong.
QUICK = {"result_format": "BOOLEAN_ONLY"}
DETAILED = {"result_format": "SUMMARY", "partial_unexpected_count": 3}
for noisy in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
    logging.getLogger(noisy).setLevel(logging.ERROR)


class ExpectationRunner:
    """One Great Expectations file context per data directory, opened on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._context: Any = None

    @property
    def context(self) -> Any:
        if self._context is None:
            self.root.mkdir(parents=True, exist_ok=True)
            context = gx.get_context(mode="file", project_root_dir=str(self.root))
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            context.variables.save()
            self._context = context
        return self._context

    def _set_up(self, suite: gx.ExpectationSuite) -> tuple[Checkpoint, Checkpoint]:
        """The suite, its validation definition and two checkpoints (quick, detailed), stored anew
        each time so that what is stored always matches what runs (Great Expectations refuses to
        run a checkpoint whose stored resources changed)."""
        context = self.context
        source = context.data_sources.add_or_update_spark(DATASOURCE)
        name = suite.name
        asset = next((a for a in source.assets if a.name == name), None) or source.add_dataframe_asset(name)
        batch = next((b for b in asset.batch_definitions if b.name == "whole"), None)
        batch = batch or asset.add_batch_definition_whole_dataframe("whole")
        suite = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        quick, detailed = (
            context.checkpoints.add_or_update(
                Checkpoint(name=name + suffix, validation_definitions=[definition], result_format=result_format)
            )
            for suffix, result_format in (("", QUICK), (" (details)", DETAILED))
        )
        return quick, detailed

    def validate(self, suite: gx.ExpectationSuite, frame: DataFrame, run_id: str) -> list[CheckResult]:
        """Run `suite` on `frame`; one result per expectation (severity and rule from its meta)."""
        # Great Expectations resolves stored objects through one process-wide current context; a
        # process may check several lakes (tests, tools), so this runner's context is made current.
        project_manager.set_project(self.context)
        quick, detailed = self._set_up(suite)
        outcome = quick.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_id))
        if not outcome.success:
            outcome = detailed.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_id))
        results: list[CheckResult] = []
        for validation in outcome.run_results.values():
            results.extend(_to_check(suite.name, r) for r in validation.results)
        return results

    def build_docs(self) -> Path | None:
        """Build the Data Docs site for the latest validations; the path of its index page."""
        if not (self.root / "gx").exists():
            return None
        project_manager.set_project(self.context)
        sites = self.context.build_data_docs()
        index = next(iter(sites.values()), None)
        return Path(index.removeprefix("file://")) if index else None


def _to_check(table: str, result: Any) -> CheckResult:
    config = result.expectation_config
    meta = config.meta or {}
    detail = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        message = str(result.exception_info.get("exception_message", "error")).splitlines()[0]
        return CheckResult(table, meta.get("rule", config.type), meta.get("severity", "critical"), False, message[:200])
    observed = detail.get("observed_value")
    failing = int(detail.get("unexpected_count") or 0)
    examples = tuple(json.dumps(v, default=str) for v in (detail.get("partial_unexpected_list") or [])[:3])
    return CheckResult(
        table,
        meta.get("rule", config.type),
        meta.get("severity", "critical"),
        bool(result.success),
        None if observed is None else str(observed),
        failing,
        examples,
    )
