"""`lakehouse sync crm|replay` and `lakehouse crm postgres|http-server`."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lakehouse.console import console, err, need_extras, state

sync_app = typer.Typer(no_args_is_help=True, help="Reverse ETL: send gold.customer_segments to a CRM.")
crm_app = typer.Typer(no_args_is_help=True, help="Local CRM targets for the demo and tests.")
Target = Annotated[str, typer.Option("--target", help="postgres | http (address: LAKEHOUSE_CRM_URL).")]


def _run(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    from lakehouse.reverse_etl.sync import SyncError

    try:
        return fn(*args, **kwargs)
    except SyncError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _diff_table(result) -> Table:  # noqa: ANN001
    out = Table(title="changes (no personal data shown)")
    for column in ("customer_id", "op", "segment", "country", "churn_probability"):
        out.add_column(column)
    for c in result.changes[:50]:
        r = c.record or {}
        out.add_row(
            str(c.customer_id),
            c.op,
            str(r.get("segment", "")),
            str(r.get("country", "")),
            "" if r.get("churn_probability") is None else f"{r['churn_probability']:.3f}",
        )
    if len(result.changes) > 50:
        out.caption = f"... and {len(result.changes) - 50} more"
    return out


@sync_app.command("crm")
def sync_crm(
    target: Target = "postgres",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Send nothing.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="List the changes.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Resend every contact, not only changes.")] = False,
) -> None:
    """Send what changed in gold.customer_segments since the last sync to the CRM."""
    if target == "postgres":
        need_extras("lakehouse sync crm --target postgres", "postgres")
    from lakehouse.reverse_etl.sync import sync

    with state.exclusive():
        result = _run(sync, state.config, state.lake(), target, full=full, dry_run=dry_run)
    if diff:
        console.print(_diff_table(result))
    console.print(result.describe(), highlight=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(1)


@sync_app.command("replay")
def sync_replay(target: Target = "postgres") -> None:
    """Resend the contacts in ops.sync_dead_letter."""
    if target == "postgres":
        need_extras("lakehouse sync replay --target postgres", "postgres")
    from lakehouse.reverse_etl.sync import replay

    with state.exclusive():
        result = _run(replay, state.config, state.lake(), target)
    console.print(result.describe(), highlight=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(1)


@crm_app.command("http-server")
def http_server(
    port: Annotated[int, typer.Option(help="Port.")] = 8766,
    rate: Annotated[float, typer.Option(help="Requests per second before 429.")] = 50.0,
    fail_rate: Annotated[float, typer.Option(help="Share of requests answered 5xx.")] = 0.0,
) -> None:
    """Run the local CRM (batch contact API) on localhost; token from LAKEHOUSE_CRM_TOKEN."""
    need_extras("lakehouse crm http-server", "serve")
    import uvicorn

    from lakehouse.reverse_etl.crm_server import Faults, create_crm_app

    token = os.environ.get("LAKEHOUSE_CRM_TOKEN") or secrets.token_urlsafe(16)
    if "LAKEHOUSE_CRM_TOKEN" not in os.environ:
        console.print(f"No LAKEHOUSE_CRM_TOKEN set: this run's token is {token}", highlight=False)
    db = Path(state.config.data_dir) / "crm" / "http-crm.db"
    app = create_crm_app(db, token, Faults(fail_rate=fail_rate, requests_per_second=rate))
    console.print(f"CRM API on http://127.0.0.1:{port} (contacts in {db}); Ctrl-C to stop", highlight=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@crm_app.command("postgres")
def postgres() -> None:
    """Run a PostgreSQL server for crm.contacts under <data_dir>/crm/postgres until Ctrl-C."""
    need_extras("lakehouse crm postgres", "services")
    import time

    from lakehouse.reverse_etl.demo import start_postgres

    with start_postgres(state.config) as url:
        console.print(f"export LAKEHOUSE_CRM_URL='{url}'   # Ctrl-C to stop", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
