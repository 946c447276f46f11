"""Reading `ops.dq_results`: the latest run, and each check's trend over recent runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import functions as F
from pyspark.sql.window import Window

from lakehouse.quality import results
from lakehouse.storage import Lake


def latest_run(lake: Lake, table: str | None = None) -> tuple[str, list[dict[str, Any]]] | None:
    """Each table's checks from the newest run that checked it (a run skips unchanged tables);
    the newest run id among them."""
    frame = results.history(lake, table)
    if frame is None:
        return None
    newest = frame.groupBy("table").agg(F.max_by("run_id", "checked_at").alias("run_id"))
    rows = frame.join(newest, ["table", "run_id"], "left_semi").orderBy("table", "severity", "rule").collect()
    if not rows:
        return None
    run_id = max(rows, key=lambda r: (r["checked_at"], r["run_id"]))["run_id"]
    return run_id, [r.asDict() for r in rows]


def trends(lake: Lake, table: str | None, last: int) -> list[dict[str, Any]]:
    """Per (table, rule): pass rate and failing counts over its last `last` runs, oldest first."""
    frame = results.history(lake, table)
    if frame is None:
        return []
    window = Window.partitionBy("table", "rule").orderBy(F.col("checked_at").desc())
    recent = frame.withColumn("_n", F.row_number().over(window)).where(F.col("_n") <= last)
    rows = recent.orderBy("table", "rule", "checked_at").collect()
    grouped: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        grouped.setdefault((r["table"], r["rule"]), []).append(r)
    out = []
    for (tbl, rule), runs in grouped.items():
        marks = " ".join(
            ("✓" if r["passed"] else "✗") + (str(r["failing_count"]) if r["failing_count"] else "") for r in runs
        )
        passed = sum(1 for r in runs if r["passed"])
        out.append(
            {
                "table": tbl,
                "rule": rule,
                "severity": runs[-1]["severity"],
                "pass_rate": passed / len(runs),
                "history": marks,
            }
        )
    return out


@dataclass(frozen=True)
class Summary:
    """What the latest checks of each table add up to: failed critical checks (writes blocked),
    failed warnings, and reject rules that rejected rows."""

    run_id: str
    tables: int
    checks: int
    failures: tuple[dict[str, Any], ...]
    warnings: tuple[dict[str, Any], ...]
    rejects: tuple[dict[str, Any], ...]

    def headline(self) -> str:
        counts = f"{len(self.failures)} failure(s), {len(self.warnings)} warning(s)"
        rejected = f"rows rejected under {len(self.rejects)} rule(s)"
        return f"{self.tables} table(s) checked ({self.checks} checks): {counts}, {rejected}; newest run {self.run_id}"


def summarise(run_id: str, rows: list[dict[str, Any]]) -> Summary:
    """`latest_run`'s rows added up."""
    failed = [r for r in rows if not r["passed"]]
    return Summary(
        run_id,
        len({r["table"] for r in rows}),
        len(rows),
        tuple(r for r in failed if r["severity"] == "critical"),
        tuple(r for r in failed if r["severity"] == "warn"),
        tuple(r for r in failed if r["severity"] == "reject"),
    )
