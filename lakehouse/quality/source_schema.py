"""Source schema checks for the app database, before anything is extracted.

- `source_column_type_changed` (critical): a contract column's declared type is no longer of its
  kind (integer, real, text; timestamps may be text or timestamp), or its values no longer parse
  as that kind. Nothing of the table is ingested; the run stops the table's downstream jobs.
- `source_column_missing` (critical): a contract column is gone.
- `new_source_column` (warn): the table has columns the contract does not name; bronze keeps them
  (as text) and nothing stops.
"""

from __future__ import annotations

from collections.abc import Mapping

from lakehouse.quality.checks import CheckResult
from lakehouse.sources.app_contract import AppTable

COMPATIBLE = {
    "integer": {"integer"},
    "real": {"real"},
    "text": {"text"},
    "timestamp": {"text", "timestamp"},
}


def expected_kinds(table: AppTable) -> dict[str, str]:
    def kind(column: str) -> str:
        if column in table.integer_columns:
            return "integer"
        if column in table.real_columns:
            return "real"
        return "timestamp" if column in table.timestamp_columns else "text"

    return {c: kind(c) for c in table.columns}


def source_column_checks(target: str, table: AppTable, found: Mapping[str, str]) -> list[CheckResult]:
    """Compare the source's column kinds (`found`, from the database catalog) with the contract."""
    expected = expected_kinds(table)
    missing = [c for c in expected if c not in found]
    changed = [
        f"{c}: {expected[c]} -> {found[c]}" for c in expected if c in found and found[c] not in COMPATIBLE[expected[c]]
    ]
    extra = [c for c in found if c not in expected]
    return [
        CheckResult(target, "source_column_missing", "critical", not missing, ", ".join(missing) or None, len(missing)),
        CheckResult(
            target, "source_column_type_changed", "critical", not changed, "; ".join(changed) or None, len(changed)
        ),
        CheckResult(target, "new_source_column", "warn", not extra, ", ".join(extra) or None, len(extra)),
    ]


def value_type_changed(target: str, column: str, kind: str, example: object) -> CheckResult:
    """A column whose values no longer parse as its kind (SQLite keeps whatever it is given)."""
    observed = f"{column}: {kind} expected, found {type(example).__name__} values"
    return CheckResult(target, "source_column_type_changed", "critical", False, observed, 1, (repr(example)[:80],))
