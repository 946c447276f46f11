"""What a spark-submit driver installs (`pip install lakehouse`: the core dependencies of
pyproject.toml) is enough for the batch jobs: the `jobs/` entry points and every module they import
at module level, transitively, import no third-party package outside the core. Deferred imports
(inside functions) do not count: they run only when their command does, and that command checks
its extra first (`lakehouse.extras`). Read with `ast` (tests/unit/import_graph.py): nothing is
installed or imported."""

from __future__ import annotations

from lakehouse.extras import EXTRAS
from tests.unit.import_graph import (
    ROOT,
    Import,
    core_imports,
    extra_imports,
    imports_of,
    included_extras,
    internal_target,
    is_stdlib,
    package_modules,
)

# Imported by the package but installed by a dependency that brings them (and is declared).
PROVIDED_BY = {"starlette": "fastapi", "botocore": "boto3", "grpc": "pyspark", "grpc_status": "pyspark",
               "google": "pyspark"}


def _runs_at_import(imp: Import) -> bool:
    return not imp.deferred and not imp.typing_only


def batch_modules(deferred: bool = False) -> dict[str, list[Import]]:
    """The `jobs/` scripts and every module of the package they import at module level (also in
    functions, when `deferred`), transitively, with the packages around them (importing
    `lakehouse.jobs.base` runs `lakehouse/jobs/__init__.py` first); each with its imports."""

    def followed(imports: list[Import]) -> list[str]:
        return [imp.name for imp in imports if not imp.typing_only and (deferred or not imp.deferred)]

    reached = {f"jobs.{path.stem}": imports_of(path, f"jobs.{path.stem}") for path in (ROOT / "jobs").glob("*.py")}
    todo = [name for imports in reached.values() for name in followed(imports)]
    modules = package_modules()
    while todo:
        target = internal_target(todo.pop())
        if target is None or target in reached:
            continue
        parts = target.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # its packages
        reached[target] = imports_of(modules[target], target)
        todo += followed(reached[target])
    return reached


def _third_party(imp: Import) -> str | None:
    return None if internal_target(imp.name) is not None or is_stdlib(imp.name) else imp.name.partition(".")[0]


def test_the_batch_jobs_import_only_core_dependencies() -> None:
    core = core_imports()
    outside = [
        f"{module}:{imp.line} imports {imp.name}"
        for module, imports in sorted(batch_modules().items())
        for imp in imports
        if _runs_at_import(imp) and (top := _third_party(imp)) is not None and top not in core
    ]
    assert not outside, "the batch jobs need more than `pip install lakehouse`:\n" + "\n".join(outside)


def test_what_the_batch_jobs_import_when_they_run_is_core_too() -> None:
    """Stricter than the above: the imports inside the functions of those modules too, followed into
    the modules they reach (the quality gate's Great Expectations, the S3 lease's obstore, the bundled
    FX server): a driver never finds a package missing halfway through a run."""
    core = core_imports()
    outside = [
        f"{module}:{imp.line} imports {imp.name}"
        for module, imports in sorted(batch_modules(deferred=True).items())
        for imp in imports
        if not imp.typing_only and (top := _third_party(imp)) is not None and top not in core
    ]
    assert not outside, "a batch run may need more than `pip install lakehouse`:\n" + "\n".join(outside)


def test_the_walk_reaches_what_the_jobs_run() -> None:
    """The check above looks where it should: the entry point, the job catalogue, every silver and
    gold transform, the quality gate and the storage."""
    reached = set(batch_modules())
    assert {"lakehouse.entrypoint", "lakehouse.pipeline", "lakehouse.jobs", "lakehouse.jobs.base",
            "lakehouse.ingest", "lakehouse.quality.gate", "lakehouse.storage", "lakehouse.engine"} <= reached
    transforms = {m for m in package_modules() if m.startswith(("lakehouse.silver.", "lakehouse.gold."))}
    assert transforms - reached <= {"lakehouse.gold.model_monitoring"}  # written by `lakehouse monitor` only


def test_every_third_party_import_is_a_declared_dependency() -> None:
    """Anywhere in the package, deferred imports too: a core dependency or a package of an extra."""
    declared = core_imports().union(*(names for extra, names in extra_imports().items() if extra != "dev"))
    undeclared = [
        f"{module}:{imp.line} imports {imp.name}"
        for module, path in sorted(package_modules().items())
        for imp in imports_of(path, module)
        if (top := _third_party(imp)) is not None and top not in declared and PROVIDED_BY.get(top) not in declared
    ]
    assert not undeclared, "imported but not in pyproject.toml:\n" + "\n".join(undeclared)


def test_the_extras_the_commands_check_are_those_of_pyproject() -> None:
    """`lakehouse.extras.EXTRAS` names what each extra installs, for the commands' one-line errors."""
    declared = extra_imports()
    assert {extra: set(names) for extra, names in EXTRAS.items()} == {extra: declared[extra] for extra in EXTRAS}
    assert set(declared) == {*EXTRAS, "all", "dev"}
    assert included_extras("all") == set(EXTRAS) and declared["all"] == set()
    assert not [name for names in EXTRAS.values() for name in names if name in core_imports()]
