"""Every silver and gold table is described once, by its `TableSpec`, and only the spec is read."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml
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


TABLE_PACKAGES = ("lakehouse.silver", "lakehouse.gold")


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` of a chain of names and attributes, None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module `from ... import` names, relative imports resolved from the package of `path` (a
    file of the project)."""
    if not node.level:
        return node.module or ""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _attribute_reads(path: Path, located: Path | None = None) -> list[str]:
    """Reads of an upper-case name of a silver or gold table module, other than `SPEC`, in one
    source file: `module.NAME` however the module was imported (`from lakehouse.silver import
    orders`, `from lakehouse import silver`, relative imports, `import lakehouse.silver.orders as
    o`, the whole dotted path), `from module import NAME` or `*`, `getattr(module, ...)` and
    `vars(module)`. `located`: where the file stands in the project (relative imports), if not at
    `path`."""
    tree = ast.parse(path.read_text())
    located = located or path.resolve()
    aliases: dict[str, str] = {}  # local name -> what it stands for (a table module or package)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, located)
            for a in node.names:
                target = f"{source}.{a.name}"
                if target.startswith(TABLE_PACKAGES) or target in TABLE_PACKAGES:
                    aliases[a.asname or a.name] = target
                if source.startswith(TABLE_PACKAGES) and source not in TABLE_PACKAGES and (
                        _described(a.name) or a.name == "*"):
                    found.append(f"{path.name}: from {source} import {a.name}")
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("lakehouse")})

    def module_of(node: ast.expr) -> str | None:
        name = _dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in aliases:
            name = aliases[head] + ("." + rest if rest else "")
        return name if name.startswith(TABLE_PACKAGES) and name.count(".") >= 2 else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _described(node.attr) and (module := module_of(node.value)):
            found.append(f"{path.name}: {module}.{node.attr}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "vars"):
            target = node.args[0] if node.args else None
            if target is not None and module_of(target):
                found.append(f"{path.name}: {node.func.id}({_dotted(target)}, ...)")
    return found


def test_outside_its_module_a_table_is_read_through_its_spec_only() -> None:
    sources = [p for d in ("lakehouse", "jobs") for p in (ROOT / d).rglob("*.py")]
    assert len(sources) > 50
    assert [r for p in sources for r in _attribute_reads(p)] == []


def test_the_check_finds_a_module_constant_read(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import lakehouse.gold.daily_sales\n"
        "import lakehouse.silver.events as ev\n"
        "from lakehouse.silver import orders\n"
        "from lakehouse.gold.daily_sales import COMMENTS\n"
        "print(orders.SPEC.key, orders.SCHEMA, getattr(orders, 'RULES'), ev.SPEC, ev.RULES, vars(ev))\n"
        "print(lakehouse.gold.daily_sales.SPEC.name, lakehouse.gold.daily_sales.COMMENTS)\n"
        "from lakehouse import silver\n"
        "from .gold import funnel_daily\n"
        "from lakehouse.gold.cold_chain_daily import *\n"
        "print(silver.products.RULES, funnel_daily.COMMENTS, getattr(config, 'X'), vars(settings))\n"
    )
    assert sorted(_attribute_reads(probe, ROOT / "lakehouse" / "probe.py")) == [
        "probe.py: from lakehouse.gold.cold_chain_daily import *",
        "probe.py: from lakehouse.gold.daily_sales import COMMENTS",
        "probe.py: getattr(orders, ...)",
        "probe.py: lakehouse.gold.daily_sales.COMMENTS",
        "probe.py: lakehouse.gold.funnel_daily.COMMENTS",
        "probe.py: lakehouse.silver.events.RULES",
        "probe.py: lakehouse.silver.orders.SCHEMA",
        "probe.py: lakehouse.silver.products.RULES",
        "probe.py: vars(ev, ...)",
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
        ({"incremental": FirstLanding("bronze.other")}, "its first input is its source 'bronze.other'"),
        ({"incremental": ByGroups("bronze.a", "k", ("bronze.a", "silver.b"))}, r"not its inputs: \['silver.b'\]"),
        ({"incremental": ByGroups("bronze.a", "kk", ("bronze.a",))}, "group_key 'kk' is a column of its"),
        ({"name": "gold.a.b"}, "the name is <layer>.<table>"),
        ({"rules": "k IS NULL"}, "rules holds Rule objects, not 'k IS NULL'"),
        ({"incremental": ByDates(frozen({"bronze.a": "d"}))}, "needs its date_column"),
        ({"date_column": "d", "incremental": ByDates(frozen({}))},
         r"date column of every input; missing: \['bronze.a'\]"),
        ({"key": "k"}, r"key is a tuple of names, got the string 'k' \(write \('k',\)\)"),
        ({"inputs": frozen({"b": "silver.b", "a": "bronze.a"}), "incremental": FirstLanding("bronze.a")},
         "its first input is its source 'bronze.a' .*not 'silver.b'"),
    ],
)
def test_a_spec_that_names_what_is_not_there_is_refused(fields: dict, message: str) -> None:
    declared = {"name": "silver.t", "key": ("k",), "comments": {"k": "the key"}, "schema": SCHEMA,
                "inputs": frozen({"a": "bronze.a"})}
    with pytest.raises(ValueError, match=message):
        TableSpec(**{**declared, **fields})
    TableSpec(**declared)  # as declared, it stands


def test_a_strategy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="groups of bronze.a: the source is one of the keyed inputs"):
        ByGroups("bronze.a", "k", ("bronze.b",))
    with pytest.raises(ValueError, match=r"dated_inputs names inputs that are not tracked: \['silver.b'\]"):
        ByGroups("bronze.a", "k", ("bronze.a",), dated_inputs=frozen({"silver.b": "d"}))


def test_a_spec_cannot_be_changed_once_declared() -> None:
    from lakehouse.gold import customer_segments
    from lakehouse.silver import order_lines, orders

    with pytest.raises(AttributeError):
        orders.SPEC.key = ("x",)  # type: ignore[misc]
    for mapping in (orders.SPEC.inputs, orders.SPEC.comments, order_lines.SPEC.incremental.tracked,  # type: ignore[union-attr]
                    customer_segments.SPEC.personal.free_text):  # type: ignore[union-attr]
        with pytest.raises(TypeError):
            mapping["x"] = "y"  # type: ignore[index]
    declared = {"order_id": "the order"}
    spec = TableSpec(name="silver.t", key=["order_id"], comments=declared)  # type: ignore[arg-type]
    declared["order_id"] = "changed afterwards"
    assert spec.key == ("order_id",) and spec.comments["order_id"] == "the order"
    assert orders.SPEC.schema is not orders.SCHEMA and orders.SPEC.schema == orders.SCHEMA  # its own copy


def _gold(name: str, inputs: dict[str, str], builder, incremental=None):  # noqa: ANN001, ANN202
    from lakehouse.jobs import gold_job, incremental_gold_job

    spec = TableSpec(name=name, key=("order_date",), comments={"order_date": "the day"}, date_column="order_date",
                     inputs=frozen(inputs), incremental=incremental)
    return (incremental_gold_job if incremental else gold_job)(spec, builder)


def _by_day(order_lines):  # noqa: ANN001, ANN202 - a builder
    return order_lines.groupBy("order_date").count()


def test_a_copied_spec_left_with_another_table_s_name_is_refused_at_import() -> None:
    from lakehouse.jobs import INGEST_JOBS, SILVER_JOBS, catalogue

    copy = _gold("gold.daily_sales", {"order_lines": "silver.order_lines"}, _by_day)
    with pytest.raises(ValueError, match="two jobs are named gold_daily_sales"):
        catalogue([*INGEST_JOBS, *SILVER_JOBS, *[j for j in JOBS.values() if j.layer == "gold"], copy])
    other = _gold("gold.by_day", {"order_lines": "silver.order_lines"}, _by_day)
    writes_twice = dataclasses.replace(other, name="gold_other")
    with pytest.raises(ValueError, match="gold.by_day is written by two jobs: gold_by_day and gold_other"):
        catalogue([*INGEST_JOBS, *SILVER_JOBS, other, writes_twice])


def test_a_misspelt_column_of_an_input_is_refused_at_import() -> None:
    from lakehouse.jobs import INGEST_JOBS, SILVER_JOBS, catalogue

    misspelt = _gold("gold.by_day", {"order_lines": "silver.order_lines"}, _by_day,
                     ByDates(frozen({"silver.order_lines": "order_day"})))
    with pytest.raises(ValueError, match="gold.by_day: its incremental strategy names 'order_day', not a column of "
                                         "silver.order_lines"):
        catalogue([*INGEST_JOBS, *SILVER_JOBS, misspelt])
    assert catalogue([*INGEST_JOBS, *SILVER_JOBS, _gold("gold.by_day", {"order_lines": "silver.order_lines"}, _by_day,
                                                      ByDates(frozen({"silver.order_lines": "order_date"})))])


def test_a_builder_that_does_not_take_an_input_s_name_is_refused_when_the_job_is_made() -> None:
    with pytest.raises(ValueError, match=r"gold.by_day: its builder _by_day\(\) takes no parameter order_line "):
        _gold("gold.by_day", {"order_line": "silver.order_lines"}, _by_day)

    def positional(order_lines, /):  # noqa: ANN001, ANN202 - cannot be given its input by name
        return order_lines

    with pytest.raises(ValueError, match=r"takes no parameter order_lines by name"):
        _gold("gold.by_day", {"order_lines": "silver.order_lines"}, positional)


def test_a_job_may_not_write_what_a_command_or_the_run_owns_nor_read_what_nobody_writes() -> None:
    from lakehouse.jobs import INGEST_JOBS, SILVER_JOBS, catalogue

    for table in ("gold.customer_churn_scores", "gold.model_monitoring", "ops.job_runs"):
        with pytest.raises(ValueError, match=f"writes {table}, which a command or the run's state owns"):
            catalogue([*INGEST_JOBS, *SILVER_JOBS, _gold(table, {"order_lines": "silver.order_lines"}, _by_day)])
    with pytest.raises(ValueError, match="writes silver.rejects, which only silver jobs write"):
        catalogue([*INGEST_JOBS, *SILVER_JOBS, _gold("silver.rejects", {"order_lines": "silver.order_lines"}, _by_day)])
    with pytest.raises(ValueError, match="gold_by_day reads silver.order_line, which no job writes"):
        catalogue([*INGEST_JOBS, *SILVER_JOBS, _gold("gold.by_day", {"order_lines": "silver.order_line"}, _by_day)])


def test_every_declared_personal_column_is_purged_and_gold_ones_are_not_served() -> None:
    from lakehouse.config import ServingConfig
    from lakehouse.maintenance import personal_data_tables

    declared = {s.name for s in catalog.specs().values() if s.personal is not None}
    assert {"silver.customers", "gold.customer_segments", "silver.rejects"} <= declared
    assert declared <= {p.table for p in personal_data_tables()}
    gold = {t for t in declared if t.startswith("gold.")}
    base = yaml.safe_load((ROOT / "conf" / "base.yaml").read_text())
    assert gold <= set(ServingConfig().hidden_tables) and gold <= set(base["serving"]["hidden_tables"])
