"""Every silver and gold table is described once, by its `TableSpec`, and only the spec is read."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from pyspark.sql.types import LongType, StructField, StructType

from lakehouse import catalog
from lakehouse.jobs import JOBS
from lakehouse.tables import ByDates, ByGroups, FirstLanding, TableSpec, frozen

ROOT = Path(__file__).resolve().parents[2]
TRANSFORMS = [j for j in JOBS.values() if j.spec is not None]


@pytest.mark.parametrize("job", TRANSFORMS, ids=lambda j: j.name)
def test_a_job_passes_its_inputs_to_the_builder_by_the_spec_s_names(job) -> None:  # noqa: ANN001
    assert job.spec is not None and job.builder is not None
    parameters = inspect.signature(job.builder).parameters
    assert set(job.spec.inputs) <= set(parameters), f"{job.name}: the builder takes {list(parameters)}"
    assert job.inputs == job.spec.input_tables
    assert job.outputs[0] == job.spec.name
    required = {n for n, p in parameters.items() if p.default is inspect.Parameter.empty and p.kind != p.VAR_KEYWORD}
    options = {"bounds", "as_of", "rules", "limit_c", "interval_minutes"}  # what the job adds (`params`)
    assert required - set(job.spec.inputs) <= options


def test_every_table_the_jobs_write_has_one_spec() -> None:
    written = {t for j in JOBS.values() for t in j.outputs if t.split(".")[0] in ("silver", "gold")}
    specs = catalog.specs()
    assert written <= set(specs)
    assert {"gold.customer_churn_scores", "gold.model_monitoring", "silver.rejects"} <= set(specs)
    assert all(name == spec.name for name, spec in specs.items())


def _described(name: str) -> bool:
    return name.isupper() and name != "SPEC"


def _attribute_reads(path: Path) -> list[str]:
    """`module.NAME` reads (and `from module import NAME`) of an upper-case name of a silver or
    gold table module, other than `SPEC`, in one source file."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                if node.module in ("lakehouse.silver", "lakehouse.gold"):
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                elif node.module.startswith(("lakehouse.silver.", "lakehouse.gold.")) and _described(a.name):
                    found.append(f"{path.name}: from {node.module} import {a.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and _described(node.attr)):
            found.append(f"{path.name}: {aliases[node.value.id]}.{node.attr}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            target = node.args[0] if node.args else None
            if isinstance(target, ast.Name) and target.id in ({"module", "m"} | set(aliases)):
                found.append(f"{path.name}: getattr({target.id}, ...)")
    return found


def test_outside_its_module_a_table_is_read_through_its_spec_only() -> None:
    sources = [p for d in ("lakehouse", "jobs") for p in (ROOT / d).rglob("*.py")
               if p.parent.name not in ("silver", "gold")]
    assert len(sources) > 50
    assert [r for p in sources for r in _attribute_reads(p)] == []


def test_the_check_finds_a_module_constant_read(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from lakehouse.silver import orders\n"
        "from lakehouse.gold.daily_sales import COMMENTS\n"
        "print(orders.SPEC.key, orders.SCHEMA, getattr(orders, 'RULES'))\n"
    )
    assert sorted(_attribute_reads(probe)) == [
        "probe.py: from lakehouse.gold.daily_sales import COMMENTS",
        "probe.py: getattr(orders, ...)",
        "probe.py: lakehouse.silver.orders.SCHEMA",
    ]


SCHEMA = StructType([StructField("k", LongType()), StructField("d", LongType())])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "orders"}, "the name is <layer>.<table>"),
        ({"key": ("id",)}, r"key names unknown column\(s\) \['id'\]"),
        ({"partition_by": ("day",)}, r"partition_by names unknown column\(s\) \['day'\]"),
        ({"fresh_by": "ts"}, r"fresh_by names unknown column\(s\) \['ts'\]"),
        ({"comments": {"x": "no such column"}}, r"comments names unknown column\(s\) \['x'\]"),
        ({"incremental": FirstLanding("bronze.other")}, r"names tables that are not its inputs: \['bronze.other'\]"),
        ({"incremental": ByGroups("bronze.a", "k", ("bronze.a", "silver.b"))}, r"not its inputs: \['silver.b'\]"),
        ({"incremental": ByDates(frozen({"bronze.a": "d"}))}, "needs its date_column"),
    ],
)
def test_a_spec_that_names_what_is_not_there_is_refused(fields: dict, message: str) -> None:
    declared = {"name": "silver.t", "key": ("k",), "comments": {"k": "the key"}, "schema": SCHEMA,
                "inputs": frozen({"a": "bronze.a"})}
    with pytest.raises(ValueError, match=message):
        TableSpec(**{**declared, **fields})
    TableSpec(**declared)  # as declared, it stands


def test_a_spec_cannot_be_changed_once_declared() -> None:
    from lakehouse.silver import orders

    with pytest.raises(AttributeError):
        orders.SPEC.key = ("x",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        orders.SPEC.inputs["x"] = "bronze.x"  # type: ignore[index]
