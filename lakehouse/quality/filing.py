"""What a run validated without Great Expectations, filed for Data Docs without importing it.

A run whose suites were all evaluated by `lakehouse.quality.native` writes one JSON file under
`<data_dir>/quality/pending/` (`site.PENDING`): per suite, each expectation as declared (kind,
options, rule, severity) and its outcome (success and Great Expectations' result dictionary).
The next Data Docs build (`lakehouse dq report`, `ExpectationRunner.persist`) turns each file into
a Great Expectations suite and validation result in the file context, then removes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lakehouse.quality import site
from lakehouse.quality.native import Outcome, serialisable
from lakehouse.quality.suites import Expect


def plain(value: Any) -> Any:
    """`value` with what JSON cannot hold written as Great Expectations files it."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return serialisable(value)


def entry(table: str, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """One suite's declaration and outcomes, ready for `file_run`."""
    checks = []
    for o in outcomes:
        expectation = o.check.expectation
        assert isinstance(expectation, Expect)
        checks.append({"kind": expectation.kind, "options": plain(dict(expectation.options)), "rule": o.check.name,
                       "severity": o.check.severity, "examples_where": o.check.examples_where,
                       "success": o.success, "result": plain(o.result)})
    return {"suite": table, "validated_at": dt.datetime.now(dt.UTC).isoformat(), "checks": checks}


def file_run(root: Path, run_id: str, entries: Sequence[Mapping[str, Any]]) -> Path | None:
    """Write the run's entries in one new file under `root` (written whole, then renamed into place)."""
    if not entries:
        return None
    folder = root / site.PENDING
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{run_id}-{uuid.uuid4().hex[:8]}.json"
    partial = folder / f".{name}.tmp"
    partial.write_text(json.dumps({"run_id": run_id, "suites": list(entries)}, default=str))
    os.replace(partial, folder / name)
    return folder / name


def read(path: Path) -> dict[str, Any]:
    """A filed run: `{"run_id": ..., "suites": [entry, ...]}`."""
    found: dict[str, Any] = json.loads(path.read_text())
    return found
