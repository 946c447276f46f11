"""The `lakehouse` command: parses arguments, loads config once, calls the library."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lakehouse.config import Config
from lakehouse.console import console, err, need_extras, state

if TYPE_CHECKING:
    from lakehouse.generate.world import GenerationSummary
    from lakehouse.pipeline import Outcomes

app = typer.Typer(no_args_is_help=True, add_completion=False, help="A lakehouse on Spark and Delta.")


def _default(key: str, value: object, variable: str | None = None) -> str:
    """What `--help` shows for an option whose default comes from the configuration (and an
    environment variable before it)."""
    return (f"{variable}, else " if variable else "") + f"{key}: {value}"


_CONFIG = Config()  # the configuration's own defaults (conf/base.yaml gives the same: tests/unit/test_cli_help.py)


@app.callback()
def main(
    env: Annotated[str | None, typer.Option(help="Configuration environment: conf/<env>.yaml.",
                                            show_default="LAKEHOUSE_ENV, else local")] = None,
    engine: Annotated[str | None, typer.Option(help="embedded | spark | connect", show_default=_default(
        "engine.kind", _CONFIG.engine.kind, "LAKEHOUSE_ENGINE"))] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Root of sources/ and lake/.", show_default=_default(
        "data_dir", _CONFIG.data_dir, "LAKEHOUSE_DATA_DIR"))] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, show_default=False,
                                         help="Log progress details (-vv: and debugging details).")] = 0,
) -> None:
    logging.basicConfig(
        level=logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
    for noisy in ("py4j", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if verbose < 2:  # gRPC's own INFO lines ("... skipping fork() handlers" when the demo starts PostgreSQL)
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    state.env = env
    state.overrides = {"engine.kind": engine, "data_dir": str(data_dir) if data_dir else None}
    state._config = None  # loaded once per invocation, on first use


def _scale_given(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and 0 < value <= 1000):
        raise typer.BadParameter(f"{value} is not a scale: a number above 0, at most 1000")
    return value


@app.command()
def generate(
    scale: Annotated[float | None, typer.Option(help="1 = ~10k customers, 100k orders, 1M events.",
                                                callback=_scale_given,
                                                show_default=_default("generator.scale", _CONFIG.generator.scale))]
    = None,
    seed: Annotated[int | None, typer.Option(help="Same seed, same world.",
                                             show_default=_default("generator.seed", _CONFIG.generator.seed))] = None,
    days: Annotated[int | None, typer.Option(help="Days to simulate; more days than before extends the world.",
                                             min=1, max=3660,
                                             show_default=_default("generator.days", _CONFIG.generator.days))]
    = None,
) -> None:
    """Generate (or extend) every source under <data_dir>/sources."""
    _generate(scale, seed, days)


def _generate(scale: float | None, seed: int | None, days: int | None) -> GenerationSummary:
    from lakehouse.files import StorageError
    from lakehouse.generate import GeneratorMismatch, generate_world

    cfg = state.config
    gen = cfg.generator
    try:
        cfg.landing.check()  # a landing bucket that is missing or refused: before anything is generated
        summary = generate_world(
            cfg.sources_dir,
            cfg.app_db_url,
            scale=scale if scale is not None else gen.scale,
            seed=seed if seed is not None else gen.seed,
            days=days if days is not None else gen.days,
            start_date=gen.start_date,
            progress=sys.stderr.isatty(),
            landing=cfg.landing,
        )
    except GeneratorMismatch as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except StorageError as exc:  # one line naming endpoint and bucket
        _fail(str(exc), code=1)
    counts = ", ".join(f"{k} {v:,}" for k, v in summary.counts.items())
    console.print(
        f"Generated days {summary.first_day} .. {summary.last_day} "
        f"({summary.days_added} new of {summary.days_total}) in {cfg.landing}: {counts}"
    )
    return summary


@app.command("fx-server")
def fx_server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port).", min=0, max=65535)] = 8765,
) -> None:
    """Serve <data_dir>/sources/fx/rates.csv as the FX rates API."""
    from lakehouse.generate.fx_server import FxServer

    server = FxServer(state.config.sources_dir / "fx" / "rates.csv", host, port)
    console.print(f"FX rates API on http://{host}:{port}/v1/meta (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def _status_style(status: str) -> str:
    return {"ok": "green", "backfilled": "green", "skipped": "dim", "waiting": "yellow"}.get(status, "red")


def _summary_table(reports, title: str = "lakehouse run") -> Table:  # noqa: ANN001
    table = Table(title=title)
    numeric = ("rows in", "rows out", "rejects", "seconds")
    for column in ("job", "status", "rows in", "rows out", "rejects", "seconds", "note"):
        table.add_column(column, justify="right" if column in numeric else "left", no_wrap=column != "note")
    for r in reports:
        o = r.outcome
        table.add_row(
            r.job,
            f"[{_status_style(r.status)}]{r.status}[/]",
            f"{o.rows_in:,}",
            f"{o.rows_out:,}",
            f"{o.rejects:,}",
            f"{r.duration_s:.2f}",
            (r.error or o.note)[:90],
        )
    return table


def _run_pipeline(names: list[str], wait: float = 0.0, full: bool = False):  # noqa: ANN202
    from lakehouse.files import StorageError
    from lakehouse.locking import LakeBusy
    from lakehouse.pipeline import UnknownJob, run_jobs, select_jobs

    try:
        jobs = select_jobs(names)
    except UnknownJob as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    _require_sources([job.name for job in jobs])
    lake = state.lake()
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("starting", total=len(jobs))
        running: list[str] = []  # jobs run side by side (pipeline.parallel_jobs)

        def started(job) -> None:  # noqa: ANN001
            running.append(job.name)
            progress.update(task, description=", ".join(running))

        def ended(report) -> None:  # noqa: ANN001
            if report.job in running:
                running.remove(report.job)
            progress.update(task, advance=1, description=", ".join(running))

        try:
            summary = run_jobs(
                state.config, lake, jobs, on_start=started, on_done=ended, wait_seconds=wait, full=full
            )
        except LakeBusy as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(3) from None
        except StorageError as exc:  # the store cannot be reached: one line naming endpoint and bucket
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    console.print(_summary_table(summary.reports))
    warnings = [w for r in summary.reports for w in r.outcome.warnings]
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True, highlight=False)
    return lake, summary


def _require_sources(jobs: list[str]) -> None:
    """Stop before anything starts or is written when none of the sources these jobs ingest is
    there (an empty or wrong data directory): two lines, exit 2."""
    from lakehouse.files import StorageError
    from lakehouse.sources.found import looked_in, misplaced, missing_all

    config = state.config
    try:
        missing = missing_all(config, jobs)
    except StorageError as exc:  # the landing's store cannot be reached: one line naming endpoint and bucket
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if missing:
        err.print(f"[red]error:[/red] no sources found in {looked_in(config)}", highlight=False, soft_wrap=True)
        hint = misplaced(config) or ("Run `lakehouse generate` to create them there, or point --data-dir "
                                     "(LAKEHOUSE_DATA_DIR) at the directory that holds them.")
        err.print(hint, highlight=False, soft_wrap=True)
        raise typer.Exit(2)


@app.command()
def run(
    jobs: Annotated[list[str] | None, typer.Argument(help="Jobs or layers; all when omitted.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait while another run holds the lake.")] = 0.0,
    full: Annotated[bool, typer.Option(help="Rebuild every table whole, incremental ones included.")] = False,
) -> None:
    """Run jobs in dependency order (all by default), with a summary per job.

    Exit codes: 0 every job ran (or had nothing new to do); 1 a job failed or was blocked by one;
    3 the lake is busy; 4 a job could not run because an input table does not exist yet."""
    _, summary = _run_pipeline(jobs or [], wait, full)
    _report_incomplete(summary)


def _report_incomplete(summary: Outcomes) -> None:
    """One line per job that did not run to its end, then the run's exit code."""
    for r in summary.failed:
        err.print(f"[red]{r.job} {r.status}:[/red] {r.error}", highlight=False, soft_wrap=True)
    for r in summary.waiting:
        err.print(f"[yellow]{r.job} did not run:[/yellow] {r.outcome.note}", highlight=False, soft_wrap=True)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


def _print_tables(lake) -> None:  # noqa: ANN001
    table = Table(title=f"tables under {lake.root}")
    for column in ("table", "rows", "version", "last change (UTC)"):
        table.add_column(column, justify="right" if column in ("rows", "version") else "left", no_wrap=True)
    for name in lake.tables():
        info = lake.info(name)
        table.add_row(info.name, f"{info.rows:,}", str(info.version), f"{info.last_change:%Y-%m-%d %H:%M:%S}")
    console.print(table)


@app.command()
def tables() -> None:
    """List every table: rows, Delta version, last change."""
    if not _lake_has_tables():
        return
    _print_tables(state.lake())


def _lake_has_tables() -> bool:
    """Whether the lake holds a Delta table; if not, say so in place of an empty listing (exit 2
    when its directory does not exist: a wrong --data-dir, or nothing run yet)."""
    from lakehouse.deltalog import delta_tables
    from lakehouse.files import StorageError

    lake = state.config.lake
    try:
        if delta_tables(lake):
            return True
        missing = not lake.names()
    except StorageError as exc:  # the store cannot be reached: one line naming endpoint and bucket
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if missing:
        nothing = "the directory does not exist" if lake.is_local else "nothing is stored under it"
        err.print(f"[red]error:[/red] no lake at {lake}: {nothing}", highlight=False, soft_wrap=True)
        err.print("`lakehouse generate` then `lakehouse run` build one there, or point --data-dir "
                  "(LAKEHOUSE_DATA_DIR) at the directory that holds lake/.", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    console.print(f"no tables under {lake} yet: `lakehouse run` builds them", highlight=False, soft_wrap=True)
    return False


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="Spark SQL; tables are <layer>.<table>.")],
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
    limit: Annotated[int, typer.Option(help="Rows to show at most.")] = 1000,
) -> None:
    """Run one Spark SQL statement and print its result (DESCRIBE and SHOW COLUMNS of a table too)."""
    if fmt not in ("table", "csv", "json"):
        err.print(f"[red]error:[/red] --format must be table, csv or json, not '{fmt}'")
        raise typer.Exit(2)
    from pyspark.errors import PySparkException

    from lakehouse import catalog, sql_output
    from lakehouse.deltalog import delta_tables

    described = catalog.parse_describe(query)
    try:
        if described is not None:  # answered from the Delta log and the table's definition, on every engine
            table = catalog.describe_table(state.config.lake, described.table)
            result = catalog.describe_result(table, described.kind).slice(0, limit)
        else:
            from lakehouse.serving.logs import quiet_libraries

            quiet_libraries()  # PySpark would log the failure as a JSON line before the one below
            result = state.lake().run_sql(query).limit(limit).toArrow()
    except catalog.UnknownTable as exc:
        _fail(str(exc))
    except PySparkException as exc:  # a statement the engine cannot parse or resolve: no traceback
        existing = delta_tables(state.config.lake)
        unknown = catalog.unknown_tables(query, existing)
        if unknown:  # the engine's message may leave out the layer that was typed
            _fail(str(catalog.UnknownTable(unknown[0], existing)))
        _fail(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
    if fmt == "csv":
        sys.stdout.write(sql_output.csv_text(result))
    elif fmt == "json":
        sys.stdout.write(sql_output.json_lines(result))
    else:
        out = Table()
        for column in result.column_names:
            out.add_column(escape(str(column)))
        for row in sql_output.table_cells(result):
            out.add_row(*[escape(cell) for cell in row])  # values are data, never markup
        console.print(out)


def _fail(message: str, code: int = 2) -> NoReturn:
    """One error line (never wrapped) and the exit code."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def describe(
    table: Annotated[str, typer.Argument(help="<layer>.<table>, e.g. gold.daily_sales.")],
) -> None:
    """A table's columns, types and comments, partitioning, rows, Delta version and the job that writes it."""
    from lakehouse import catalog

    try:
        found = catalog.describe_table(state.config.lake, table)
    except catalog.UnknownTable as exc:
        _fail(str(exc))
    console.print(found.headline(), highlight=False, soft_wrap=True)
    key = f"key {', '.join(found.key)}; " if found.key else ""
    console.print(f"{key}last change {found.last_change:%Y-%m-%d %H:%M:%S} UTC; {found.location}",
                  highlight=False, soft_wrap=True)
    out = Table()
    for heading in ("column", "type", "comment"):
        out.add_column(heading, overflow="fold")
    for column in found.columns:
        out.add_row(column.name, column.type, escape(column.comment or ""))
    console.print(out)


@app.command("jvm-archive")
def jvm_archive_command() -> None:
    """Build the class-data-sharing archive that makes each local Spark JVM start faster."""
    from lakehouse import jvm_archive

    try:
        path, seconds = jvm_archive.build(state.config)
    except jvm_archive.ArchiveError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"JVM class archive written to {path} ({path.stat().st_size / 1e6:,.0f} MB) in {seconds:.0f} s")


@app.command("jobs")
def list_jobs() -> None:
    """List the jobs in dependency order with their inputs and outputs."""
    from lakehouse.pipeline import select_jobs

    table = Table(title="jobs")
    for column in ("job", "reads", "writes"):
        table.add_column(column)
    for job in select_jobs([]):
        table.add_row(job.name, ", ".join(job.inputs) or "(sources)", ", ".join(job.outputs))
    console.print(table)


@app.command()
def demo(
    scale: Annotated[float, typer.Option(help="Generator scale for the demo.")] = 0.05,
    days: Annotated[int, typer.Option(help="Days to simulate (the churn model needs more than 60).")] = 120,
    object_store: Annotated[bool, typer.Option(
        "--object-store", help="Land the sources and keep the lake on the project's S3 server "
        "(started under <data_dir>/s3 and left running; `lakehouse s3 stop` stops it).")] = False,
) -> None:
    """The whole lifecycle on a small world: generate, pipeline, churn model, CRM sync; then where to look."""
    need_extras("lakehouse demo", "stream", "ml", "services", "postgres")  # checked before a world is generated
    from lakehouse.demo import PLANTED, run_lifecycle

    exports = _demo_object_store() if object_store else {}
    world = _generate(scale, None, days)
    if state.config.pipeline.run_date is None:
        # The world is a fixed stretch of days: the demo runs as of its last one, so its freshness
        # checks do not compare it with today.
        state.override("pipeline.run_date", world.last_day.isoformat())
    say = lambda line: console.print(line, highlight=False, soft_wrap=True)  # noqa: E731
    with state.exclusive():  # the pipeline and every step after it, in one hold of the lake
        lake, summary = _run_pipeline([])
        if summary.failed:
            raise typer.Exit(1)
        if world.days_added:
            say(PLANTED)
        missed = run_lifecycle(state.config, lake, say, days=days)
    _print_tables(lake)
    console.print(_where_to_look(exports), soft_wrap=True, highlight=False)
    if missed:
        err.print("[red]The lifecycle did not complete:[/red] " + "; ".join(missed), highlight=False, soft_wrap=True)
        raise typer.Exit(1)


DEMO_BUCKET = "lakehouse"


def _demo_object_store() -> dict[str, str]:
    """Start (or find) the project's S3 server under `<data_dir>/s3`, make the demo's bucket and
    point this invocation's landing zone and lake at it; the variables a later command needs.

    Every S3 client of this process (Sail, delta-rs, pyarrow, obstore, S3A) then reads the
    server's variables and no other AWS_* one: a shell's `AWS_ENDPOINT_URL_S3`, `AWS_SESSION_TOKEN`
    or `AWS_PROFILE` would otherwise send some of them elsewhere, or sign for another account."""
    from lakehouse import s3server

    try:
        server = s3server.start(state.config.data_dir / "s3")
        server.create_bucket(DEMO_BUCKET)
    except Exception as exc:  # noqa: BLE001 - any failure to start or reach it is one line
        err.print(f"[red]error:[/red] the demo's S3 server: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    locations = {"LAKEHOUSE_LAKE_URI": f"s3://{DEMO_BUCKET}/lake", "LAKEHOUSE_LANDING_URI": f"s3://{DEMO_BUCKET}/sources"}
    environ, replaced = s3server.own_environment(os.environ, server)
    for name in set(os.environ) - set(environ):
        del os.environ[name]
    os.environ.update(environ)
    state.override("storage.lake_uri", locations["LAKEHOUSE_LAKE_URI"])
    state.override("sources.landing_uri", locations["LAKEHOUSE_LANDING_URI"])
    err.print(f"Landing zone and lake on the S3 server at {server.endpoint}, bucket {DEMO_BUCKET}", highlight=False)
    if replaced:
        err.print(f"The demo reaches only its own S3 server: {', '.join(replaced)} from the environment "
                  "ignored for it", highlight=False, soft_wrap=True)
    return locations


def _where_to_look(exports: dict[str, str] | None = None) -> str:
    cfg = state.config
    cli = f"lakehouse --data-dir {cfg.data_dir}"
    on_s3 = (
        [
            f"The lake is on the S3 server under {cfg.data_dir}/s3 (still running; `{cli} s3 stop` stops it). "
            "In a new shell, first:",
            f"  eval \"$({cli} s3 start)\"; export "
            + " ".join(f"{name}={value}" for name, value in exports.items()),
        ]
        if exports
        else []
    )
    return "\n".join(
        [
            "",
            "Where to look:",
            *on_s3,
            f"  {cli} sql \"SELECT country, round(sum(revenue_eur), 2) AS revenue_eur FROM gold.daily_sales "
            "GROUP BY country ORDER BY 2 DESC\"",
            f"  {cli} serve --pg-port 5433  # REST API /docs, dashboard, Spark SQL on sc://localhost:15002, "
            "PostgreSQL (psql, BI tools) on 127.0.0.1:5433",
            f"  {cli} dq report             # quality checks and trends; Data Docs under {cfg.data_dir}/quality",
            f"  mlflow ui --backend-store-uri sqlite:///{cfg.data_dir}/mlflow/mlflow.db   # runs and the churn model",
            f"  {cli} sql \"SELECT segment, count(*) FROM gold.customer_segments GROUP BY segment\"",
            f"Delta tables: {cfg.lake}; sources: {cfg.landing}.",
        ]
    )


# -- command groups, one per area of the library -------------------------------------------------
# Each area keeps its commands beside its code (`lakehouse/<area>/cli.py`) and is added here.
from lakehouse.quality.cli import app as dq_app  # noqa: E402

app.add_typer(dq_app, name="dq")
from lakehouse.serving.cli import serve as serve_command  # noqa: E402

app.command("serve")(serve_command)
from lakehouse.ml import cli as ml_cli  # noqa: E402

app.command("train")(ml_cli.train)
app.command("score")(ml_cli.score)
app.command("monitor")(ml_cli.monitor)
from lakehouse.reverse_etl.cli import crm_app, sync_app  # noqa: E402

app.add_typer(sync_app, name="sync")
app.add_typer(crm_app, name="crm")


@app.command()
def maintain(
    table: Annotated[list[str] | None, typer.Option("--table", help="Only these tables (default: all).")] = None,
    retention_hours: Annotated[int, typer.Option(help="Vacuum files unreferenced for longer than this.")] = 168,
    force: Annotated[bool, typer.Option("--force", help="Allow a retention below 168 h.")] = False,
    purge_erased: Annotated[bool, typer.Option(
        "--purge-erased", help="Erase erased customers from every file of the tables holding personal data, "
        "dropping their older versions.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be done to each table; change nothing.")]
    = False,
) -> None:
    """Compact, vacuum (with a retention guard) and checkpoint Delta tables; show their history."""
    from lakehouse import maintenance

    chosen = _lake_tables(table)  # before the lock and the engine: a name that is no table stops here
    if dry_run:
        _maintain_dry_run(maintenance, chosen, retention_hours, force, purge_erased)
        return
    results: Sequence[maintenance.MaintainResult | maintenance.PurgeResult]
    with state.exclusive():
        lake = state.lake()
        try:
            if purge_erased:
                results = maintenance.purge_erased(lake)
                if not results:
                    console.print("nothing to purge: no table holds erased customers' data or older versions")
            else:
                names = chosen or lake.tables()
                results = [maintenance.maintain_table(lake, t, retention_hours, force) for t in names]
        except maintenance.RetentionTooShort as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    for result in results:
        console.print(result.describe(), highlight=False)
        for commit in result.history[:3]:
            console.print(f"    v{commit['version']}  {commit['timestamp']:%Y-%m-%d %H:%M:%S}  {commit['operation']}",
                          highlight=False)


def _lake_tables(typed: list[str] | None) -> list[str]:
    """The lake tables named on the command line (none: none named); exit 2 in one line for a name
    that is no table of the lake (a path such as `../x`, a misspelling), with the closest names and
    every table of the lake."""
    if not typed:
        return []
    from lakehouse import catalog
    from lakehouse.deltalog import delta_tables
    from lakehouse.files import StorageError

    try:
        existing = delta_tables(state.config.lake)
        return [catalog.resolve(name, existing, list_known=True) for name in typed]
    except catalog.UnknownTable as exc:
        _fail(str(exc))
    except StorageError as exc:  # the store cannot be reached: one line naming endpoint and bucket
        _fail(str(exc), code=1)


def _maintain_dry_run(maintenance, tables: list[str], retention_hours: int, force: bool,  # noqa: ANN001
                      purge_erased: bool) -> None:
    """`maintain --dry-run`: the plan for each table, from the Delta logs; no lock, no engine, no write."""
    from lakehouse.deltalog import delta_tables

    if purge_erased:
        err.print("[red]error:[/red] --dry-run does not apply to --purge-erased", highlight=False)
        raise typer.Exit(2)
    lake = state.config.lake
    names = tables or delta_tables(lake)
    try:
        plans = [maintenance.plan_table(lake, t, retention_hours, force) for t in names]
    except maintenance.RetentionTooShort as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for plan in plans:
        console.print(plan.describe(), highlight=False, soft_wrap=True)
    console.print(f"dry run: nothing changed ({len(plans)} table(s))", highlight=False)


@app.command()
def backfill(
    start: Annotated[dt.date, typer.Option("--from", help="First date (YYYY-MM-DD).", parser=dt.date.fromisoformat)],
    end: Annotated[dt.date, typer.Option("--to", help="Last date, inclusive.", parser=dt.date.fromisoformat)],
    jobs: Annotated[list[str] | None, typer.Argument(help="Date-keyed jobs or layers; all when omitted.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait while another run holds the lake.")] = 0.0,
) -> None:
    """Recompute the rows of a date range in date-keyed tables, idempotently; others are untouched."""
    from lakehouse.backfill import NotDateKeyed, select_backfill_jobs
    from lakehouse.backfill import backfill as run_backfill
    from lakehouse.locking import LakeBusy
    from lakehouse.pipeline import UnknownJob

    try:
        chosen = select_backfill_jobs(jobs or [])
        summary = run_backfill(state.config, state.lake(), chosen, start, end, wait)
    except (UnknownJob, NotDateKeyed, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except LakeBusy as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(3) from None
    console.print(_summary_table(summary.reports, f"lakehouse backfill {start}..{end}"))
    _report_incomplete(summary)


@app.command()
def reingest(
    source: Annotated[str, typer.Argument(help="The source whose window to fetch again: fx.")],
    start: Annotated[dt.date, typer.Option("--from", help="First date (YYYY-MM-DD).", parser=dt.date.fromisoformat)],
    end: Annotated[dt.date, typer.Option("--to", help="Last date, inclusive.", parser=dt.date.fromisoformat)],
    wait: Annotated[float, typer.Option(help="Seconds to wait while another run holds the lake.")] = 0.0,
) -> None:
    """Fetch a source's window again into bronze (a day landed wrong, or corrected by the provider since).

    silver.fx_rates keeps the latest landing of each day and currency, so the next `lakehouse run`
    uses the re-fetched rates and recomputes the order lines and daily sales of those dates."""
    from lakehouse.ingest import SourceCheckFailed, refetch_fx
    from lakehouse.sources.app_db import SourceUnavailable

    if source != "fx":
        err.print(f"[red]error:[/red] cannot re-fetch '{source}' by dates; sources with a window: fx")
        raise typer.Exit(2)
    with state.exclusive(wait):
        try:
            result = refetch_fx(state.lake(), state.config, start, end, dt.datetime.now(dt.UTC))
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except (SourceCheckFailed, SourceUnavailable) as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    console.print(
        f"bronze.fx_rates: {result.records:,} rate(s) of {start} .. {end} landed again"
        + (f", {result.rejected:,} to bronze.quarantine" if result.rejected else "")
        + ". The next `lakehouse run` uses them for the orders of those dates"
        + f" (or: lakehouse run, then lakehouse backfill --from {start} --to {end}).",
        highlight=False,
        soft_wrap=True,
    )


from lakehouse.streaming.cli import iot_app, kafka_app, stream_app  # noqa: E402

app.add_typer(kafka_app, name="kafka")
app.add_typer(iot_app, name="iot")
app.add_typer(stream_app, name="stream")

from lakehouse.services_cli import cluster_app, connect_app, s3_app  # noqa: E402

app.add_typer(s3_app, name="s3")
app.add_typer(cluster_app, name="cluster")
app.add_typer(connect_app, name="connect-server")


def entry() -> None:
    """The `lakehouse` command: `app`, with a lake store that cannot be reached (a stopped S3 server,
    a missing bucket, refused keys) said in one line naming endpoint and bucket, whatever the
    command, instead of a traceback; likewise a package of an extra that is not installed, where a
    command reaches one it did not check for (`lakehouse.extras`)."""
    from lakehouse.extras import extra_of, install_hint
    from lakehouse.files import StorageError

    try:
        app()
    except StorageError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except ModuleNotFoundError as exc:
        extra = extra_of(exc.name or "")
        if extra is None:
            raise
        line = f"{exc.name} is not installed (the {extra} extra): {install_hint([extra])}"
        err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
