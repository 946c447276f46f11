"""Suites run in memory; their results reach the file context (Data Docs) only when filed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.quality import site
from lakehouse.quality.expectations import ExpectationRunner
from lakehouse.quality.suites import suite_for
from lakehouse.silver import products

SCHEMA = "product_id long, name string, category string, list_price_eur double, updated_at timestamp"


def _frame(spark, ids: list[int]):  # noqa: ANN001, ANN202
    return spark.createDataFrame([(i, f"p{i}", "dairy", 1.5, None) for i in ids], SCHEMA)


def _filed(root: Path) -> list[Path]:
    return sorted((root / "gx" / "uncommitted" / "validations").rglob("*.json"))


def test_checks_are_filed_once_for_data_docs(spark, tmp_path: Path) -> None:
    runner = ExpectationRunner(tmp_path / "q")
    results = runner.validate(suite_for(products.SPEC), _frame(spark, [1, 1, 2]), "run-1")
    unique = next(r for r in results if r.rule == "primary_key_unique")
    assert (unique.passed, unique.failing_count) == (False, 2)
    assert unique.examples == ('{"product_id": 1}',)  # the shared key, not the whole rows
    assert not (tmp_path / "q" / "gx").exists()  # nothing on disk until filed
    runner.persist()
    filed = _filed(tmp_path / "q")
    assert len(filed) == 1 and "run-1" in str(filed[0])
    assert (tmp_path / "q" / "gx" / "expectations" / "silver" / "products.json").is_file()
    runner.persist()  # nothing new: nothing filed twice
    assert _filed(tmp_path / "q") == filed
    index = runner.build_docs()
    assert index is not None and index.is_file()


def _pages(root: Path) -> dict[str, int]:
    """The rendered validation pages, by run, with the time each was written."""
    pages = site.site_dir(root) / "validations"
    return {p.relative_to(pages).parts[2]: p.stat().st_mtime_ns for p in pages.rglob("*.html")}


def test_data_docs_render_only_what_was_filed_since_the_last_build(spark, tmp_path: Path) -> None:
    root = tmp_path / "q"
    scoring = ExpectationRunner(root)  # a run that files its results and builds nothing
    scoring.validate(suite_for(products.SPEC), _frame(spark, [1, 2]), "run-1")
    scoring.persist()
    first = ExpectationRunner(root)  # the next process that builds
    index = first.build_docs()
    assert index is not None and list(_pages(root)) == ["run-1"]
    built = index.stat().st_mtime_ns
    assert first.build_docs() == index and index.stat().st_mtime_ns == built  # nothing new: left alone

    second = ExpectationRunner(root)  # the next run
    second.validate(suite_for(products.SPEC), _frame(spark, [3]), "run-2")
    pages = _pages(root)
    assert second.build_docs() == index
    after = _pages(root)
    assert sorted(after) == ["run-1", "run-2"] and after["run-1"] == pages["run-1"]  # run-1 not rendered again
    assert "run-1" in index.read_text() and "run-2" in index.read_text()


# `publish_docs` in a process of its own: the index it returns, and whether it imported Great Expectations
PUBLISH = """
import sys
from pathlib import Path
from lakehouse.quality.gate import publish_docs
print(publish_docs(Path(sys.argv[1])), "great_expectations" in sys.modules)
"""


def _publish_elsewhere(root: Path) -> tuple[str, bool]:
    done = subprocess.run([sys.executable, "-c", PUBLISH, str(root)], capture_output=True, text=True, check=True)
    index, imported = done.stdout.split()
    return index, imported == "True"


def test_a_site_that_shows_everything_filed_is_published_without_great_expectations(spark, tmp_path: Path) -> None:
    root = tmp_path / "q"
    assert _publish_elsewhere(root) == ("None", False)  # nothing filed yet: no site
    scoring = ExpectationRunner(root)
    scoring.validate(suite_for(products.SPEC), _frame(spark, [1, 2]), "run-1")
    scoring.persist()
    index, imported = _publish_elsewhere(root)
    assert imported and list(_pages(root)) == ["run-1"]
    built = Path(index).stat().st_mtime_ns
    assert _publish_elsewhere(root) == (index, False)  # nothing new: left as it is
    assert Path(index).stat().st_mtime_ns == built

    scoring.validate(suite_for(products.SPEC), _frame(spark, [3]), "run-2")
    scoring.persist()  # filed by another process after the build
    assert _publish_elsewhere(root) == (index, True)
    assert sorted(_pages(root)) == ["run-1", "run-2"]

    suite = root / "gx" / "expectations" / "silver" / "products.json"
    page = site.site_dir(root) / "expectations" / "silver" / "products.html"
    later = page.stat().st_mtime_ns + 1
    os.utime(suite, ns=(later, later))  # the suite changed since its page was rendered
    assert _publish_elsewhere(root) == (index, True)
    assert page.stat().st_mtime_ns > built
    assert _publish_elsewhere(root) == (index, False)


def test_the_index_lists_the_latest_results_and_every_result_keeps_its_page(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(site, "INDEX_RESULTS", 2)
    root = tmp_path / "q"
    runner = ExpectationRunner(root)
    for run in ("run-1", "run-2", "run-3"):  # a run, then its Data Docs refresh
        runner.validate(suite_for(products.SPEC), _frame(spark, [1, 2]), run)
        index = runner.build_docs()
    assert index is not None
    listed = {run for run in ("run-1", "run-2", "run-3") if run in index.read_text()}
    assert listed == {"run-2", "run-3"}
    assert sorted(_pages(root)) == ["run-1", "run-2", "run-3"]
    assert site.unrendered(root) == []  # nothing left for the next run to render


def test_results_too_old_for_the_index_are_not_left_to_render(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(site, "INDEX_RESULTS", 2)
    root = tmp_path / "q"
    runner = ExpectationRunner(root)  # three runs filed with Data Docs off, then one that builds
    for run in ("run-1", "run-2", "run-3"):
        runner.validate(suite_for(products.SPEC), _frame(spark, [1, 2]), run)
        runner.persist()
    assert runner.build_docs() is not None
    assert sorted(_pages(root)) == ["run-2", "run-3"]
    assert site.unrendered(root) == []  # run-1 is past what the site shows: not rendered, not pending


def test_discarded_checks_are_never_filed(spark, tmp_path: Path) -> None:
    runner = ExpectationRunner(tmp_path / "q")
    assert all(r.passed for r in runner.validate(suite_for(products.SPEC), _frame(spark, [1, 2]), "run-1"))
    runner.discard()
    runner.validate(suite_for(products.SPEC), _frame(spark, [3]), "run-2")
    runner.persist()
    filed = _filed(tmp_path / "q")
    assert len(filed) == 1 and "run-2" in str(filed[0])


def test_a_compound_key_counts_every_row_that_shares_it(spark, tmp_path: Path) -> None:
    import great_expectations as gx

    from lakehouse.quality.suites import key_expectations

    rows = [(1, 1), (1, 2), (1, 2), (2, 1), (2, 1), (2, 1), (3, None), (3, None)]
    frame = spark.createDataFrame(rows, "order_id long, line_no long")
    suite = gx.ExpectationSuite(name="silver.lines", expectations=key_expectations(["order_id", "line_no"]))
    results = {r.rule: r for r in ExpectationRunner(tmp_path / "q").validate(suite, frame, "run-1")}
    assert (results["primary_key_unique"].passed, results["primary_key_unique"].failing_count) == (False, 7)
    assert (results["line_no_not_null"].passed, results["line_no_not_null"].failing_count) == (False, 2)
    assert len(results["primary_key_unique"].examples) == 3
    assert results["order_id_not_null"].passed


def test_runs_filed_without_great_expectations_become_its_results_and_a_broken_file_is_kept_aside(
    spark, tmp_path: Path
) -> None:
    from lakehouse.quality import filing, native
    from lakehouse.quality.suites import suite_checks

    root = tmp_path / "q"
    outcomes = native.evaluate(suite_checks(products.SPEC), _frame(spark, [1, 1, 2]))
    filing.file_run(root, "run-9", [filing.entry(products.SPEC.name, outcomes)])
    (root / site.PENDING / "0-garbled.json").write_text('{"run_id": "run-8", "suites": [{"suite"')
    assert len(site.pending(root)) == 2
    index = ExpectationRunner(root).build_docs()
    assert index is not None and site.pending(root) == [] and site.unrendered(root) == []
    assert (root / site.PENDING / "0-garbled.json.unreadable").is_file()
    [filed] = _filed(root)
    assert "run-9" in str(filed)
    unique = next(r for r in json.loads(filed.read_text())["results"]
                  if r["expectation_config"]["type"] == "expect_key_to_be_unique")
    assert (unique["success"], unique["result"]["unexpected_count"]) == (False, 2)
    assert list(_pages(root)) == ["run-9"]
