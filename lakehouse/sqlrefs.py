"""Which lake tables a statement names, read from sqlglot's parse of it (Spark's dialect).

`lakehouse sql` and the serving doors register only the tables a statement names before it runs
(see `Lake.register_referenced`). Names come from the parse tree, so a name inside a string, a
comment or a longer identifier is no reference; statements sqlglot keeps as plain text (`SHOW
TABLES IN gold`, `SHOW COLUMNS IN gold.x`) are read from their tokens: a layer named alone there
stands for all of its tables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

LAYERS = ("bronze", "silver", "gold", "ops")


def _from_tokens(tokens: list[Token]) -> Iterator[str]:
    """`layer.table` for each dotted pair of names, and `layer` for a layer named alone."""
    names = [t.text.lower() if t.token_type not in (TokenType.STRING, TokenType.NUMBER) else None for t in tokens]
    for i, name in enumerate(names):
        if name is None or (i > 0 and tokens[i - 1].token_type == TokenType.DOT):
            continue
        dotted = i + 2 < len(tokens) and tokens[i + 1].token_type == TokenType.DOT and names[i + 2]
        if dotted:
            yield f"{name}.{names[i + 2]}"
        elif name in LAYERS:
            yield name


def _named(sql: str) -> Iterator[str]:
    try:
        trees = [tree for tree in sqlglot.parse(sql, read="spark") if tree is not None]
    except SqlglotError:
        # Not Spark SQL sqlglot knows: the names its tokens spell (the engine says what is wrong).
        with contextlib.suppress(SqlglotError):
            yield from _from_tokens(sqlglot.tokenize(sql, read="spark"))
        return
    for tree in trees:
        for table in tree.find_all(exp.Table):
            if table.db:
                yield f"{table.db}.{table.name}".lower()
        if isinstance(tree, exp.Command):  # kept as text: its words after the command's own
            text = tree.expression.name if isinstance(tree.expression, exp.Expression) else ""
            with contextlib.suppress(SqlglotError):
                yield from _from_tokens(sqlglot.tokenize(text, read="spark"))


def referenced_tables(sql: str, existing: Iterable[str]) -> list[str]:
    """Those of `existing` that `sql` names as `<layer>.<table>`, and every table of a layer it
    names alone (`SHOW TABLES IN gold`); case-insensitive, sorted."""
    existing = list(existing)
    named = set(_named(sql))
    return sorted(t for t in existing if t in named or t.split(".", 1)[0] in named)
