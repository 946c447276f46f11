"""Suites run in memory; their results reach the file context (Data Docs) only when filed."""

from __future__ import annotations

from pathlib import Path

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
    results = runner.validate(suite_for(products), _frame(spark, [1, 1, 2]), "run-1")
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
    site = root / "gx" / "uncommitted" / "data_docs" / "local_site"
    return {p.relative_to(site / "validations").parts[2]: p.stat().st_mtime_ns
            for p in (site / "validations").rglob("*.html")}


def test_data_docs_render_only_what_was_filed_since_the_last_build(spark, tmp_path: Path) -> None:
    root = tmp_path / "q"
    scoring = ExpectationRunner(root)  # a run that files its results and builds nothing
    scoring.validate(suite_for(products), _frame(spark, [1, 2]), "run-1")
    scoring.persist()
    first = ExpectationRunner(root)  # the next process that builds
    index = first.build_docs()
    assert index is not None and list(_pages(root)) == ["run-1"]
    built = index.stat().st_mtime_ns
    assert first.build_docs() == index and index.stat().st_mtime_ns == built  # nothing new: left alone

    second = ExpectationRunner(root)  # the next run
    second.validate(suite_for(products), _frame(spark, [3]), "run-2")
    pages = _pages(root)
    assert second.build_docs() == index
    after = _pages(root)
    assert sorted(after) == ["run-1", "run-2"] and after["run-1"] == pages["run-1"]  # run-1 not rendered again
    assert "run-1" in index.read_text() and "run-2" in index.read_text()


def test_discarded_checks_are_never_filed(spark, tmp_path: Path) -> None:
    runner = ExpectationRunner(tmp_path / "q")
    assert all(r.passed for r in runner.validate(suite_for(products), _frame(spark, [1, 2]), "run-1"))
    runner.discard()
    runner.validate(suite_for(products), _frame(spark, [3]), "run-2")
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
