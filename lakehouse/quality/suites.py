"""Great Expectations suites for silver and gold tables, built from each table's module.

Every table's spec (`lakehouse.tables.TableSpec`) declares its key; the suite always holds the key
checks (no null key column, no duplicate key: critical), plus the spec's own `expectations`: Great
Expectations expectations named with `expect(...)` and tagged with `critical(...)` or `warn(...)`, e.g.

    expectations=(critical(expect("ExpectColumnMinToBeBetween", column="revenue_eur", min_value=0),
                           "revenue_negative", "revenue_eur < 0"),)

`expect` only names the expectation: Great Expectations (seconds to import) is imported when a
suite is first built, so importing the job catalog does not wait for it; a suite whose
expectations are all of the kinds `lakehouse.quality.native` evaluates is never built at all. A
Great Expectations expectation object is accepted in place of `expect(...)` too. Row-level reject rules stay with the
transform (the spec's `rules`, Spark SQL) because a rejected row must leave the table before it is written;
their outcomes are recorded beside the suite's (see `lakehouse.quality.gate`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from lakehouse.quality.checks import Severity

if TYPE_CHECKING:
    from lakehouse.tables import TableSpec


@dataclass(frozen=True)
class Expect:
    """A Great Expectations expectation by class name and arguments, built when a suite is."""

    kind: str  # a class of great_expectations.expectations, e.g. "ExpectColumnValuesToNotBeNull"
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        import great_expectations.expectations as gxe

        from lakehouse.quality import unique_key

        kind = getattr(gxe, self.kind, None) or (getattr(unique_key, self.kind) if self.kind in KEY_KINDS else None)
        if kind is None:
            raise ValueError(f"unknown expectation {self.kind!r}: not a class of great_expectations.expectations")
        return kind(**self.options)


KEY_KINDS = ("ExpectKeyColumnToNotBeNull", "ExpectKeyToBeUnique")  # lakehouse.quality.unique_key


def snake_case(kind: str) -> str:
    """A class name as Great Expectations names its expectation type: `ExpectColumnMinToBeBetween` ->
    `expect_column_min_to_be_between`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


@dataclass(frozen=True)
class Tagged:
    """An expectation with its severity, its rule name and the SQL that finds offending rows."""

    expectation: Any  # an Expect, or a Great Expectations expectation
    severity: Severity
    rule: str | None
    examples_where: str | None = None

    @property
    def name(self) -> str:
        """The rule's name: as given, else the expectation's type (`expect_column_min_to_be_between`)."""
        if self.rule:
            return self.rule
        if isinstance(self.expectation, Expect):
            return snake_case(self.expectation.kind)
        return str(self.expectation.expectation_type)

    def build(self) -> Any:
        built = self.expectation.build() if isinstance(self.expectation, Expect) else self.expectation.copy()
        meta = dict(built.meta or {})
        meta.update(severity=self.severity, rule=self.rule or built.expectation_type)
        if self.examples_where:
            meta["examples_where"] = self.examples_where  # shown on failure
        built.meta = meta
        return built


def expect(kind: str, **options: Any) -> Expect:
    """The expectation `great_expectations.expectations.<kind>(**options)`, built when needed."""
    return Expect(kind, MappingProxyType(dict(options)))


def critical(expectation: Any, rule: str | None = None, examples_where: str | None = None) -> Tagged:
    """The write does not happen when `expectation` fails."""
    return Tagged(expectation, "critical", rule, examples_where)


def warn(expectation: Any, rule: str | None = None) -> Tagged:
    """Recorded and shown when `expectation` fails; nothing stops."""
    return Tagged(expectation, "warn", rule)


def key_checks(key: Sequence[str]) -> list[Tagged]:
    """No key column is null and no two rows share a key (critical)."""
    # all of them read one grouped aggregate of the key, not a query each (see unique_key.py)
    columns = list(key)
    nulls = [critical(expect("ExpectKeyColumnToNotBeNull", column_list=columns, column=c), f"{c}_not_null",
                      f"{c} IS NULL") for c in columns]
    return [*nulls, critical(expect("ExpectKeyToBeUnique", column_list=columns), "primary_key_unique")]


def suite_checks(spec: TableSpec) -> list[Tagged]:
    """The table's suite as declared: key checks plus `spec.expectations`, nothing imported."""
    return [*key_checks(spec.key), *spec.expectations]


def key_expectations(key: Sequence[str]) -> list[Any]:
    """`key_checks` as Great Expectations expectations."""
    return [t.build() for t in key_checks(key)]


def suite_for(spec: TableSpec) -> Any:
    """The table's suite (a great_expectations.ExpectationSuite): key checks plus `spec.expectations`."""
    import great_expectations as gx

    return gx.ExpectationSuite(name=spec.name, expectations=[t.build() for t in suite_checks(spec)])
