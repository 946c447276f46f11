"""Run Great Expectations suites on engine DataFrames, keeping results for Data Docs.

Great Expectations 1.x validates Spark DataFrames, classic and Spark Connect (so Sail) alike. The
context is a file context under `<data_dir>/quality/gx`: suites, the latest validation results
and the Data Docs site live there, beside the lake they describe.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage reporting from a data platform

import great_expectations as gx  # noqa: E402
from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.data_context.context_factory import project_manager  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from pyspark.sql import DataFrame  # noqa: E402

from lakehouse.quality import filing, unique_key  # noqa: E402, F401 - unique_key registers the key expectations
from lakehouse.quality import site as site_files  # noqa: E402
from lakehouse.quality.checks import CheckResult  # noqa: E402
from lakehouse.quality.suites import Expect, Tagged  # noqa: E402

log = logging.getLogger(__name__)
DATASOURCE = "lake"
ASSET = "staged"  # the staged result of a transform, before it is written
# Checks run with the cheapest result format; a suite with a failure runs again with details
# (counts, example values), which costs about twice as much but only happens when something is wrong.
QUICK = {"result_format": "BOOLEAN_ONLY"}
DETAILED = {"result_format": "SUMMARY", "partial_unexpected_count": 3}
NO_EXCEPTION = {"raised_exception": False, "exception_message": None, "exception_traceback": None}
for noisy in ("great_expectations", "great_expectations.core", "great_expectations.data_context",
              "great_expectations.data_context.types.base"):  # sets its own level: INFO
    logging.getLogger(noisy).setLevel(logging.ERROR)


class ExpectationRunner:
    """Validates in an in-memory Great Expectations context; `persist` files what it validated.

    Storing suites, validation definitions and checkpoints in a file context costs about 0.1 s a
    table (Great Expectations re-reads its YAML configuration on every store access), more than
    validating a small table does. So checks run in an ephemeral context, and `persist` copies the
    suites and results of a run into the file context under `root` once, for Data Docs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._memory: Any = None
        self._context: Any = None
        self._validated: dict[str, gx.ExpectationSuite] = {}
        self._frames: Any = None  # the one batch definition every suite validates a DataFrame through

    @property
    def memory(self) -> Any:
        if self._memory is None:
            memory = gx.get_context(mode="ephemeral")
            memory.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            # one asset for every table: adding an asset re-serialises the context's configuration
            asset = memory.data_sources.add_spark(DATASOURCE).add_dataframe_asset(ASSET)
            self._frames = asset.add_batch_definition_whole_dataframe("whole")
            self._memory = memory
        return self._memory

    @property
    def context(self) -> Any:
        """The file context under `root` (suites and results kept for Data Docs)."""
        if self._context is None:
            self.root.mkdir(parents=True, exist_ok=True)
            context = gx.get_context(mode="file", project_root_dir=str(self.root))
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            sites = context.variables.data_docs_sites or {}
            for site in sites.values():  # what the site shows: the latest results only
                site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
                site["site_index_builder"]["validation_results_limit"] = site_files.INDEX_RESULTS
            context.variables.data_docs_sites = sites
            context.variables.save()
            self._context = context
        return self._context

    def _definition(self, suite: gx.ExpectationSuite) -> gx.ValidationDefinition:
        """The suite's validation definition in the in-memory context, replacing an older one."""
        suite = self.memory.suites.add_or_update(suite)
        definition = gx.ValidationDefinition(name=suite.name, data=self._frames, suite=suite)
        return self.memory.validation_definitions.add_or_update(definition)

    def validate(self, suite: gx.ExpectationSuite, frame: DataFrame, run_id: str) -> list[CheckResult]:
        """Run `suite` on `frame`; one result per expectation (severity and rule from its meta)."""
        # Great Expectations resolves stored objects through one process-wide current context.
        project_manager.set_project(self.memory)
        definition = self._definition(suite)
        batch, run = {"dataframe": frame}, RunIdentifier(run_name=run_id)
        outcome = definition.run(batch_parameters=batch, result_format=QUICK, run_id=run)
        if not outcome.success:
            outcome = definition.run(batch_parameters=batch, result_format=DETAILED, run_id=run)
        self._validated[suite.name] = suite
        return [_to_check(suite.name, r) for r in outcome.results]

    def persist(self) -> None:
        """File the suites and validation results of the checks run since the last call, and those
        runs filed without Great Expectations (`lakehouse.quality.filing`)."""
        suites, results = self._take()
        waiting = site_files.pending(self.root)
        if not suites and not waiting:
            return
        project_manager.set_project(self.context)
        for path in waiting:
            try:
                filed = filing.read(path)
                for entry in filed["suites"]:  # filed again by a concurrent build: the same keys, overwritten
                    self._file_native(filed["run_id"], entry)
            except FileNotFoundError:  # a concurrent build took it
                continue
            except (ValueError, KeyError, TypeError) as exc:  # not a file a run wrote: kept aside, named
                log.warning("%s cannot be filed for Data Docs (%s): kept as %s.unreadable", path, exc, path.name)
                path.replace(path.with_name(path.name + ".unreadable"))
                continue
            path.unlink(missing_ok=True)
        for suite in suites:
            expectations = [copy.copy(e) for e in suite.expectations]  # an expectation belongs to one suite
            self.context.suites.add_or_update(gx.ExpectationSuite(name=suite.name, expectations=expectations))
        for key, result in results:
            self.context.validation_results_store.set(key, result)

    def _file_native(self, run_id: str, entry: dict[str, Any]) -> None:
        """A suite evaluated without Great Expectations, as its suite and validation result."""
        checks = [Tagged(Expect(c["kind"], c["options"]), c["severity"], c["rule"], c["examples_where"])
                  for c in entry["checks"]]
        suite = self.context.suites.add_or_update(
            gx.ExpectationSuite(name=entry["suite"], expectations=[c.build() for c in checks]))
        outcomes = [ExpectationValidationResult(success=c["success"], expectation_config=e.configuration,
                                                result=c["result"], exception_info=NO_EXCEPTION)
                    for c, e in zip(entry["checks"], suite.expectations, strict=True)]
        passed = sum(1 for o in outcomes if o.success)
        run = RunIdentifier(run_name=run_id, run_time=dt.datetime.fromisoformat(entry["validated_at"]))
        result = ExpectationSuiteValidationResult(
            success=passed == len(outcomes), results=outcomes, suite_name=suite.name,
            statistics={"evaluated_expectations": len(outcomes), "successful_expectations": passed,
                        "unsuccessful_expectations": len(outcomes) - passed,
                        "success_percent": 100.0 * passed / len(outcomes) if outcomes else None},
            meta={"great_expectations_version": gx.__version__, "run_id": run,
                  "validation_time": run.run_time, "batch_spec": {"batch_data": "SparkDataFrame"},
                  "active_batch_definition": {"datasource_name": DATASOURCE, "data_connector_name": "fluent",
                                              "data_asset_name": ASSET, "batch_identifiers": {}}},
        )
        key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=suite.name), run, f"{DATASOURCE}-{ASSET}")
        self.context.validation_results_store.set(key, result)

    def discard(self) -> None:
        """Forget the checks run since the last `persist` (when no Data Docs are kept)."""
        self._take()

    def _take(self) -> tuple[list[gx.ExpectationSuite], list[tuple[Any, Any]]]:
        """The suites validated and the in-memory results since the last call, removed from memory."""
        suites, self._validated = list(self._validated.values()), {}
        if self._memory is None:
            return suites, []
        store = self._memory.validation_results_store
        results = [(key, store.get(key)) for key in store.list_keys()]
        for key, _ in results:
            store.remove_key(key)
        return suites, results

    def build_docs(self) -> Path | None:
        """Bring the Data Docs site up to date; the path of its index page.

        Only the pages still missing or older than what they show are rendered (the results and
        suites filed since the last build, by this process or any other: a scoring run files
        results without building), and the index. Rendering every result kept (one per table and
        run, so a year of daily runs holds thousands) would make each build slower than the last.
        With nothing new, a site already built is left as it is."""
        self.persist()
        if not (self.root / "gx").exists():
            return None
        todo = self._unrendered()
        index = site_files.site_dir(self.root) / "index.html"
        if not todo and index.is_file():
            return index
        project_manager.set_project(self.context)
        sites = self.context.build_data_docs(resource_identifiers=todo or None)  # None: the whole site
        built = next(iter(sites.values()), None)
        return Path(built.removeprefix("file://")) if built else None

    def _unrendered(self) -> list[Any]:
        """The store keys of what the site is missing (`site.unrendered`)."""
        keys: dict[str, Any] = {"validations": ValidationResultIdentifier, "expectations": ExpectationSuiteIdentifier}
        todo = site_files.unrendered(self.root)
        return [keys[section].from_tuple(parts) for section, parts in todo if section in keys]


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
