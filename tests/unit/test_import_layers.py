"""The package's import layers (docs/architecture.md, "Layers"): no module imports one of a layer
above its own, and no two modules import each other, however indirectly, at module level or in a
deferred import (a cycle hidden inside a function is still a cycle). Read from the source with
`ast` (tests/unit/import_graph.py): no engine, nothing imported."""

from __future__ import annotations

from pathlib import Path

from tests.unit.import_graph import cycles, imports_of, internal_edges, package_modules

# Bottom to top. A module may import its own layer and those below; the longest prefix names its
# layer. The transforms sit below every kind of I/O, so they cannot reach a session, a table or a
# source; the engine below the storage that uses it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("lakehouse", "lakehouse.config", "lakehouse.files", "lakehouse.clock", "lakehouse.money",
                    "lakehouse.personal", "lakehouse.commits", "lakehouse.sqlrefs", "lakehouse.daemons",
                    "lakehouse.extras")),
    ("declarations", ("lakehouse.sources.app_contract", "lakehouse.bronze", "lakehouse.quality",
                      "lakehouse.quality.checks", "lakehouse.quality.rules", "lakehouse.quality.suites",
                      "lakehouse.quality.event_time", "lakehouse.quality.unique_key", "lakehouse.quality.site",
                      "lakehouse.quality.source_schema", "lakehouse.tables")),
    ("transforms", ("lakehouse.silver", "lakehouse.gold")),
    ("lake files", ("lakehouse.deltalog", "lakehouse.arrowio", "lakehouse.staging", "lakehouse.holder",
                    "lakehouse.locking", "lakehouse.s3lock")),
    ("engine", ("lakehouse.engine", "lakehouse.jvm_archive")),
    ("storage", ("lakehouse.storage", "lakehouse.upserts", "lakehouse.state", "lakehouse.incremental")),
    ("sources", ("lakehouse.sources", "lakehouse.generate")),
    ("ingestion and quality gate", ("lakehouse.ingest", "lakehouse.quality.gate", "lakehouse.quality.results",
                                    "lakehouse.quality.expectations", "lakehouse.quality.report",
                                    "lakehouse.quality.native", "lakehouse.quality.filing")),
    ("jobs", ("lakehouse.jobs",)),
    ("pipeline", ("lakehouse.pipeline", "lakehouse.backfill", "lakehouse.catalog", "lakehouse.quality.readmit")),
    ("applications", ("lakehouse.serving", "lakehouse.ml", "lakehouse.reverse_etl", "lakehouse.streaming",
                      "lakehouse.maintenance", "lakehouse.demo", "lakehouse.cluster", "lakehouse.connect_server",
                      "lakehouse.s3server", "lakehouse.jvm_workload")),
    ("commands", ("lakehouse.cli", "lakehouse.console", "lakehouse.services_cli", "lakehouse.sql_output",
                  "lakehouse.entrypoint", "lakehouse.quality.cli", "lakehouse.serving.cli", "lakehouse.ml.cli",
                  "lakehouse.reverse_etl.cli", "lakehouse.streaming.cli")),
]

TRANSFORMS = [name for name, _ in LAYERS].index("transforms")


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the longest prefix of `module` listed there (None: none listed)."""
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for level, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            # the package itself is placed by its own name only, not as the prefix of every module
            within = prefix != "lakehouse" and module.startswith(prefix + ".")
            if (module == prefix or within) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), level)
    return None if best is None else best[1]


def test_every_module_has_a_layer() -> None:
    """A new module is placed on the whiteboard (LAYERS and docs/architecture.md) when it is made."""
    unplaced = [m for m in package_modules() if layer_of(m) is None]
    assert not unplaced, f"modules in no layer: {unplaced}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    """Module-level, deferred and type-checking imports alike: each is a dependency."""
    upward = []
    for module, targets in internal_edges(module_level_only=False, typing=True).items():
        for target, line in targets.items():
            low, high = layer_of(module), layer_of(target)
            if low is not None and high is not None and high > low:
                upward.append(f"{module}:{line} ({LAYERS[low][0]}) imports {target} ({LAYERS[high][0]})")
    assert not upward, "imports of a layer above:\n" + "\n".join(upward)


def _describe(found: list[list[str]], graph: dict[str, dict[str, int]]) -> str:
    return "\n".join(
        "cycle: " + "; ".join(f"{m}:{line} imports {t}" for m in ring for t, line in graph[m].items() if t in ring)
        for ring in found
    )


def test_no_import_cycle_at_module_level() -> None:
    graph = internal_edges(module_level_only=True)
    found = cycles(graph)
    assert not found, _describe(found, graph)


def test_no_import_cycle_through_deferred_imports() -> None:
    """An import moved into a function makes a cycle work, not go away: the two modules still
    cannot be understood, tested or moved one without the other."""
    graph = internal_edges(module_level_only=False)
    found = cycles(graph)
    assert not found, _describe(found, graph)


# What no transform may import: a session, a table, a file system, a network or database client, the
# project's file layer. A guard against slips read from the source, not a sandbox.
NOT_FOR_TRANSFORMS = ("pyspark.sql.SparkSession", "pyspark.sql.session", "pyspark.sql.connect.session",
                      "pyspark.SparkContext", "pyspark.context", "deltalake", "pyarrow.fs", "sqlalchemy", "httpx",
                      "boto3", "obstore", "confluent_kafka", "os", "io", "pathlib", "shutil", "subprocess", "socket",
                      "tempfile", "urllib", "lakehouse.files", "lakehouse.daemons")


def test_transforms_reach_no_session_store_or_client() -> None:
    found = [f"{module}:{imp.line} imports {imp.name}"
             for module, path in package_modules().items() if layer_of(module) == TRANSFORMS
             for imp in imports_of(path, module)
             if any(imp.name == n or imp.name.startswith(n + ".") for n in NOT_FOR_TRANSFORMS)]
    assert not found, "transforms with I/O:\n" + "\n".join(found)


def test_dynamic_imports_count_and_new_modules_need_a_place(tmp_path: Path) -> None:
    """`importlib.import_module("...")` is an import like any other; a module of a new name is in
    no layer until it is placed (the package's own name places only the package)."""
    probe = tmp_path / "probe.py"
    probe.write_text('import importlib\n\ndef f():\n    importlib.import_module("lakehouse.jobs")\n'
                     '    __import__("lakehouse.storage")\n')
    assert [(i.name, i.deferred) for i in imports_of(probe, "lakehouse.probe")] == [
        ("importlib", False), ("lakehouse.jobs", True), ("lakehouse.storage", True)]
    assert layer_of("lakehouse.brandnew") is None and layer_of("lakehouse") == 0
    assert layer_of("lakehouse.silver.orders") == TRANSFORMS


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The checks above can fail: a ring of three and a pair are found, a chain is not."""
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["e"], "e": ["d"], "f": ["a"]}
    assert cycles(graph) == [["a", "b", "c"], ["d", "e"]]
