"""Checks that a statement for `POST /sql` is one read-only SELECT over gold tables.

The statement is parsed with sqlglot (Spark dialect) and walked: anything but a single query
(SELECT, set operations, CTEs) is rejected, every table it reads must be an allowed `gold.<name>`,
and functions that reach outside the tables (file readers, JVM reflection) are refused. The SQL
that runs is regenerated from the checked tree, so what executes is what was checked.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# sqlglot warns with the statement text on unsupported syntax; statements may hold personal data.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
    exp.Set, exp.Use, exp.Cache, exp.Uncache, exp.LoadData, exp.Into, exp.Pragma, exp.Transaction,
    exp.Commit, exp.Rollback, exp.Describe, exp.Refresh, exp.TruncateTable, exp.Copy,
    exp.QueryTransform,  # SELECT TRANSFORM(...) USING 'cmd': Apache Spark runs cmd on the server
)
# Functions that read files or run host code; any `read_*` function is refused as well.
FORBIDDEN_FUNCTIONS = frozenset({
    "reflect", "java_method", "try_reflect", "input_file_name", "input_file_block_start",
    "input_file_block_length", "text", "csv", "json", "parquet", "orc", "avro", "binaryfile",
    "load_file", "glob", "sql", "udf", "from_protobuf", "to_protobuf",  # these two read a descriptor file
})


class QueryRejected(ValueError):
    """The statement is not a single read-only SELECT over allowed gold tables; says why."""


@dataclass(frozen=True)
class CheckedQuery:
    sql: str
    tables: frozenset[str]


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return str(node.sql_name()).lower()


def _refuse_function(name: str) -> None:
    if name in FORBIDDEN_FUNCTIONS or name.startswith("read_"):
        raise QueryRejected(f"function '{name}' is not allowed: only gold tables can be read")


def _check_functions(tree: exp.Expression) -> None:
    for node in tree.find_all(exp.Func):
        name = _function_name(node)
        _refuse_function(name)
        if type(node).__name__.startswith("Read"):
            raise QueryRejected(f"function '{name}' is not allowed: only gold tables can be read")


def check_function(name: str) -> None:
    """Refuse a function called by name (a DataFrame plan's `F.call_function`, say) as SQL would be."""
    _refuse_function(name.rsplit(".", 1)[-1].strip("`").lower())


def _cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def _table_name(table: exp.Table, ctes: set[str]) -> str | None:
    """`gold.<name>` for a table reference; None for a CTE; rejects anything else."""
    if not isinstance(table.this, exp.Identifier):
        raise QueryRejected("table functions are not allowed: read gold tables by name")
    name, db, catalog = table.name.lower(), table.db.lower(), table.catalog.lower()
    if not db and not catalog and name in ctes:
        return None
    if catalog and catalog != "spark_catalog":
        raise QueryRejected(f"catalog '{catalog}' is not allowed: read gold.<table>")
    if db != "gold":
        shown = f"{db}.{name}" if db else name
        raise QueryRejected(f"table '{shown}' is not allowed: only gold tables can be read (gold.<table>)")
    return f"gold.{name}"


def check_query(sql: str, allowed_tables: Collection[str]) -> CheckedQuery:
    """Parse `sql` and return it regenerated with the gold tables it reads, or raise QueryRejected."""
    try:
        return _check_query(sql, allowed_tables)
    except RecursionError:
        raise QueryRejected("the query is nested too deeply to be checked") from None


def _check_query(sql: str, allowed_tables: Collection[str]) -> CheckedQuery:
    try:
        statements = [s for s in sqlglot.parse(sql, read="spark") if s is not None]
    except ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc).splitlines()[0]
        raise QueryRejected(f"not valid Spark SQL: {first}") from None
    if len(statements) != 1:
        raise QueryRejected(f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, QUERY_ROOTS):
        raise QueryRejected(f"only SELECT is allowed, got {tree.key.upper()}")
    for node in tree.walk():
        if isinstance(node, FORBIDDEN_NODES):
            raise QueryRejected(f"only SELECT is allowed: {node.key.upper()} found")
    _check_functions(tree)
    ctes = _cte_names(tree)
    tables = set()
    for table in tree.find_all(exp.Table):
        name = _table_name(table, ctes)
        if name is not None:  # named as it is registered: gold.<name>, lower case, whatever was typed
            tables.add(name)
            table.set("catalog", None)
            table.set("db", exp.to_identifier("gold"))
            table.set("this", exp.to_identifier(name.split(".", 1)[1]))
    unknown = sorted(tables - set(allowed_tables))
    if unknown:
        raise QueryRejected(f"table '{unknown[0]}' is not an available gold table")
    return CheckedQuery(tree.sql(dialect="spark", comments=False), frozenset(tables))


def check_table(name: str, allowed_tables: Collection[str]) -> str:
    """`gold.<name>` for a table identifier (`gold.daily_sales`, `` `gold`.`daily_sales` ``) that
    names an allowed table, or raise QueryRejected."""
    try:
        table = sqlglot.exp.to_table(name, dialect="spark")
    except (ParseError, ValueError, TypeError):
        raise QueryRejected(f"'{name}' is not a table name: read gold.<table>") from None
    checked = _table_name(table, set())
    if checked not in allowed_tables:
        raise QueryRejected(f"table '{checked}' is not an available gold table")
    return str(checked)


def check_expression(text: str, allowed_tables: Collection[str]) -> str:
    """A column expression (`F.expr`, `selectExpr`, a filter string) regenerated from its checked
    tree: the same rules as a query, and it must be one expression."""
    try:
        tree = sqlglot.parse_one(f"SELECT {text}", read="spark")
    except ParseError:
        raise QueryRejected("not a valid Spark SQL expression") from None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or any(
            tree.args.get(part) for part in tree.args if part != "expressions"):
        raise QueryRejected("one column expression is allowed")
    check_query(tree.sql(dialect="spark"), allowed_tables)
    return str(tree.expressions[0].sql(dialect="spark", comments=False))
