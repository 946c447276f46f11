"""What a quality check says about one table: results, severities and the gate's exception.

Severities:
- `critical`: the write does not happen; the job fails and the jobs downstream of it do not run.
- `reject`: failing rows go to `silver.rejects` with the rule; the rest proceed.
- `warn`: recorded and shown; nothing stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["critical", "reject", "warn"]
SEVERITIES: tuple[Severity, ...] = ("critical", "reject", "warn")


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome on one table in one run."""

    table: str
    rule: str
    severity: Severity
    passed: bool
    observed: str | None = None
    failing_count: int = 0
    examples: tuple[str, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        head = f"{self.table}: {self.rule} ({self.severity}) failed"
        if self.failing_count:
            head += f" for {self.failing_count:,} row(s)"
        if self.observed is not None:
            head += f", observed {self.observed}"
        return head + "".join(f"\n    e.g. {example}" for example in self.examples)


class QualityGateFailed(RuntimeError):
    """A critical check failed: nothing was written to `table`."""

    def __init__(self, table: str, failures: Sequence[CheckResult], results: Sequence[CheckResult] = ()) -> None:
        self.table = table
        self.failures = tuple(failures)
        self.results = tuple(results) or self.failures  # every outcome of the checks, for the record
        lines = "\n  ".join(f.describe() for f in self.failures)
        super().__init__(f"quality gate blocked the write to {table}:\n  {lines}")


def failed_critical(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.severity == "critical" and not r.passed]
