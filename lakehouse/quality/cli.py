"""`lakehouse dq ...`: re-admit rejected rows, and report quality over time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lakehouse.console import console, err, state

if TYPE_CHECKING:
    from lakehouse.quality.report import Summary

app = typer.Typer(no_args_is_help=True, help="Data quality: reports, Data Docs and re-admission of rejected rows.")


@app.command()
def readmit(
    table: Annotated[str, typer.Option("--table", help="Silver table, e.g. silver.order_lines.")],
    rule: Annotated[str, typer.Option("--rule", help="Reject rule, e.g. product_unknown.")],
) -> None:
    """Re-process the rows rejected from TABLE under RULE; admit those that now pass, then refresh
    the jobs downstream."""
    from lakehouse.jobs import JobContext
    from lakehouse.pipeline import downstream_jobs, run_jobs
    from lakehouse.quality.checks import QualityGateFailed
    from lakehouse.quality.readmit import ReadmitError
    from lakehouse.quality.readmit import readmit as readmit_rows

    lake = state.lake()
    started = dt.datetime.now(dt.UTC)
    ctx = JobContext(state.config, lake, f"readmit-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", started)
    try:
        with state.exclusive():
            result = readmit_rows(ctx, table, rule)
    except ReadmitError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except QualityGateFailed as exc:  # the rows would break the table: nothing admitted
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        ctx.gate.flush()
    line = (
        f"{table} / {rule}: {result.candidates:,} rejected row(s); {result.admitted:,} admitted, "
        f"{result.still_rejected:,} still rejected"
    )
    if result.superseded:
        line += f", {result.superseded:,} superseded by a version already in the table"
    console.print(line + (" (table rebuilt)" if result.rebuilt else ""))
    if result.admitted:
        summary = run_jobs(state.config, lake, downstream_jobs(table))
        done = ", ".join(f"{r.job} {r.status}" for r in summary.reports)
        console.print(f"downstream: {done}")
        if summary.failed:
            raise typer.Exit(1)


@app.command()
def report(
    table: Annotated[str | None, typer.Option("--table", help="Only this table.")] = None,
    last: Annotated[int, typer.Option("--last", help="Runs to show in the trend.")] = 10,
) -> None:
    """A summary (tables checked, failures, warnings, rejected rows, Data Docs), then the latest
    run's checks of each table and the trend of each check over the last N runs."""
    from lakehouse.quality.gate import publish_docs, quality_dir
    from lakehouse.quality.report import latest_run, summarise, trends

    if table is not None:
        table = _existing_table(table)
    lake = state.lake()
    latest = latest_run(lake, table)
    if latest is None:
        console.print("no quality results yet: run `lakehouse run` first")
        return
    run_id, rows = latest
    index = publish_docs(quality_dir(state.config))
    for line in _summary_lines(summarise(run_id, rows), index):
        console.print(line, highlight=False, soft_wrap=True)
    console.print()
    console.print(_latest_table(run_id, rows))
    console.print(_trend_table(trends(lake, table, last), last))


def _existing_table(typed: str) -> str:
    """The lake table `typed` names; exit 2 saying it does not exist (and what is close) otherwise."""
    from lakehouse.catalog import UnknownTable, resolve
    from lakehouse.deltalog import delta_tables

    try:
        return resolve(typed, delta_tables(state.config.lake))
    except UnknownTable as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


SUMMARY_ITEMS = 5  # checks listed under each heading: the summary stays on one screen


def _summary_lines(summary: Summary, index: Path | None) -> list[str]:
    def listed(heading: str, rows: tuple[dict, ...], detail: Callable[[dict], object]) -> list[str]:
        if not rows:
            return [f"  {heading}: none"]
        lines = [f"  {heading}:"] + [f"    {r['table']} {r['rule']}: {detail(r)}" for r in rows[:SUMMARY_ITEMS]]
        return lines + ([f"    and {len(rows) - SUMMARY_ITEMS} more"] if len(rows) > SUMMARY_ITEMS else [])

    return [
        summary.headline(),
        *listed("failures (write blocked)", summary.failures, lambda r: f"{r['failing_count'] or 0:,} failing"),
        *listed("warnings", summary.warnings, lambda r: r["observed_value"] or "failed"),
        *listed("rows rejected", summary.rejects, lambda r: f"{r['failing_count'] or 0:,}"),
        f"  Data Docs: file://{index}" if index else "  Data Docs: none yet",
    ]


def _latest_table(run_id: str, rows: list[dict]) -> Table:
    out = Table(title=f"latest checks of each table (newest run {run_id})")
    for column in ("table", "rule", "severity", "result", "failing", "observed"):
        out.add_column(column, justify="right" if column == "failing" else "left")
    colours = {"critical": "red", "reject": "magenta", "warn": "yellow"}
    for r in rows:
        result = "[green]pass[/]" if r["passed"] else f"[{colours[r['severity']]}]fail[/]"
        failing = "" if r["failing_count"] is None else f"{r['failing_count']:,}"
        out.add_row(r["table"], r["rule"], r["severity"], result, failing, (r["observed_value"] or "")[:60])
    return out


def _trend_table(rows: list[dict], last: int) -> Table:
    out = Table(title=f"trend over the last {last} runs (oldest → newest failing counts; ✓ pass, ✗ fail)")
    for column in ("table", "rule", "severity", "pass rate", "history"):
        out.add_column(column)
    for r in rows:
        out.add_row(r["table"], r["rule"], r["severity"], f"{r['pass_rate']:.0%}", r["history"])
    return out
