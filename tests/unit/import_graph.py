"""The package's imports read from its source with `ast`: nothing is imported, no engine started.

Each import is kept with where it runs: at module level (when the module is imported), deferred
(inside a function: when it is called) or for type checkers only (`if TYPE_CHECKING:`).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "lakehouse"


@dataclass(frozen=True)
class Import:
    name: str  # dotted, absolute: a module, or a module's attribute (`from m import x` gives `m.x`)
    deferred: bool
    typing_only: bool
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def package_modules() -> dict[str, Path]:
    """Every module of the package by its dotted name."""
    return {module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith("TYPE_CHECKING")


def _statements(body: Iterable[ast.stmt], deferred: bool, typing_only: bool) -> Iterator[tuple[ast.stmt, bool, bool]]:
    for node in body:
        yield node, deferred, typing_only
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _statements(node.body, True, typing_only)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, deferred, True)
            yield from _statements(node.orelse, deferred, typing_only)
        else:
            for field in ("body", "orelse", "finalbody"):
                yield from _statements(getattr(node, field, []), deferred, typing_only)
            for handler in getattr(node, "handlers", []):
                yield from _statements(handler.body, deferred, typing_only)
            for case in getattr(node, "cases", []):
                yield from _statements(case.body, deferred, typing_only)


def imports_of(path: Path, module: str | None = None) -> list[Import]:
    """The imports in the file at `path` (module `module`: relative imports are resolved from it)."""
    module = module if module is not None else module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node, deferred, typing_only in _statements(ast.parse(path.read_text()).body, False, False):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names = [base] if base == "__future__" else [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [Import(name, deferred, typing_only, node.lineno) for name in names]
    return found + _dynamic_imports(path)


def _dynamic_imports(path: Path) -> list[Import]:
    """`importlib.import_module("x")` and `__import__("x")` with the name written out: imports too
    (deferred when inside a function)."""
    tree = ast.parse(path.read_text())
    functions = [(n.lineno, n.end_lineno or n.lineno) for n in ast.walk(tree)
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            continue
        called = ast.unparse(node.func)
        if called in ("importlib.import_module", "import_module", "__import__"):
            deferred = any(start <= node.lineno <= end for start, end in functions)
            found.append(Import(node.args[0].value, deferred, False, node.lineno))
    return found


def internal_target(name: str) -> str | None:
    """The package's module that importing `name` runs (`lakehouse.x.y` for `from lakehouse.x import
    y`, whether y is a module or an attribute of `lakehouse.x`); None outside the package."""
    if name.partition(".")[0] != PACKAGE:
        return None
    modules = package_modules()
    while name not in modules:
        name = name.rpartition(".")[0]
    return name


def internal_edges(module_level_only: bool, typing: bool = False) -> dict[str, dict[str, int]]:
    """module -> {module it imports: line}: module-level imports only, or deferred ones too;
    imports for type checkers only when `typing`."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in package_modules().items():
        edges = graph.setdefault(module, {})
        for imp in imports_of(path, module):
            if (module_level_only and imp.deferred) or (imp.typing_only and not typing):
                continue
            target = internal_target(imp.name)
            if target is not None and target != module:
                edges.setdefault(target, imp.line)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def is_stdlib(name: str) -> bool:
    return name.partition(".")[0] in sys.stdlib_module_names or name == "__future__"


# Distributions whose import name is not their name with `-` as `_`.
IMPORT_NAMES = {"pyyaml": "yaml", "scikit-learn": "sklearn", "delta-spark": "delta",
                "psycopg-binary": "psycopg_binary"}


def import_name(requirement: str) -> str:
    """`uvicorn[standard]>=0.30` -> uvicorn, `scikit-learn>=1.5` -> sklearn."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    distribution = match.group(0).lower()
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_").replace(".", "_"))


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def core_imports() -> set[str]:
    """Import names of the core dependencies (what `pip install lakehouse` installs)."""
    return {import_name(r) for r in pyproject()["project"]["dependencies"]}


def extra_imports() -> dict[str, set[str]]:
    """extra -> import names of the packages it names itself (not those of the extras it includes)."""
    return {
        extra: {import_name(r) for r in requirements if import_name(r) != PACKAGE}
        for extra, requirements in pyproject()["project"]["optional-dependencies"].items()
    }


def included_extras(extra: str) -> set[str]:
    """The extras that `extra` includes by naming the package itself (`lakehouse[serve,ml]`)."""
    included: set[str] = set()
    for requirement in pyproject()["project"]["optional-dependencies"][extra]:
        match = re.fullmatch(rf"{PACKAGE}\[([^\]]*)\]", requirement.strip())
        if match:
            included |= {name.strip() for name in match.group(1).split(",")}
    return included
