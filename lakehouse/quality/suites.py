"""Great Expectations suites for silver and gold tables, built from each table's module.

Every table module declares `TABLE` and `KEY`; the suite always holds the key checks (no null key
column, no duplicate key: critical), plus the module's own `EXPECTATIONS` (Great Expectations
expectations tagged with `critical(...)` or `warn(...)`). Row-level reject rules stay with the
transform (`RULES`, Spark SQL) because a rejected row must leave the table before it is written;
their outcomes are recorded beside the suite's (see `lakehouse.quality.gate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import great_expectations as gx

from lakehouse.quality.checks import Severity
from lakehouse.quality.unique_key import ExpectKeyColumnToNotBeNull, ExpectKeyToBeUnique


def _tag(expectation: Any, severity: Severity, rule: str | None, examples_where: str | None = None) -> Any:
    meta = dict(expectation.meta or {})
    meta.update(severity=severity, rule=rule or expectation.expectation_type)
    if examples_where:
        meta["examples_where"] = examples_where  # SQL that finds offending rows, shown on failure
    expectation.meta = meta
    return expectation


def critical(expectation: Any, rule: str | None = None, examples_where: str | None = None) -> Any:
    """The write does not happen when `expectation` fails."""
    return _tag(expectation, "critical", rule, examples_where)


def warn(expectation: Any, rule: str | None = None) -> Any:
    """Recorded and shown when `expectation` fails; nothing stops."""
    return _tag(expectation, "warn", rule)


def key_expectations(key: Sequence[str]) -> list[Any]:
    """No key column is null and no two rows share a key."""
    # all of them read one grouped aggregate of the key, not a query each (see unique_key.py)
    columns = list(key)
    checks = [critical(ExpectKeyColumnToNotBeNull(column_list=columns, column=c), f"{c}_not_null", f"{c} IS NULL")
              for c in columns]
    return [*checks, critical(ExpectKeyToBeUnique(column_list=columns), "primary_key_unique")]


def suite_for(module: ModuleType) -> gx.ExpectationSuite:
    """The table's suite: key checks plus `module.EXPECTATIONS`."""
    expectations = key_expectations(module.KEY) + [e.copy() for e in getattr(module, "EXPECTATIONS", [])]
    return gx.ExpectationSuite(name=module.TABLE, expectations=expectations)
