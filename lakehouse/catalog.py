"""What the lake says about a table: `lakehouse describe`, DESCRIBE and SHOW COLUMNS through
`lakehouse sql`, and the closest names to a table that does not exist.

A description comes from the table's Delta log (schema, partitioning, version, row count), read
by delta-rs with no engine, so it is the same on every engine (Sail's catalog keeps no schema for
a table registered by its location: its own DESCRIBE of one prints no column), and from the
table's declaration in code: the column comments and key of its spec (`lakehouse.tables`), and
the job that writes it (the job catalogue).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
from pyspark.sql.types import StructType

from lakehouse.deltalog import delta_table, delta_tables, stats_row_count
from lakehouse.files import Location

if TYPE_CHECKING:
    from lakehouse.tables import TableSpec

# Tables no job of the catalogue writes, and writers beside the catalogue's jobs.
OTHER_WRITERS = {
    "bronze.telemetry": "lakehouse stream telemetry",
    "bronze.quarantine": "lakehouse stream telemetry",
    "gold.customer_churn_scores": "lakehouse score",
    "gold.model_monitoring": "lakehouse monitor",
    "ops.job_runs": "lakehouse run (one row per job and run)",
    "ops.dq_results": "the quality gate of every silver and gold job",
    "ops.ingested_files": "the bronze jobs that read landing files",
    "ops.watermarks": "the bronze jobs that read the app database and the FX API",
    "ops.ingest_batches": "the bronze jobs",
    "ops.increments": "the incremental silver and gold jobs",
    "ops.rewrites": "the silver jobs that change rows in place",
    "ops.sync_runs": "lakehouse sync crm",
    "ops.sync_state": "lakehouse sync crm",
    "ops.sync_dead_letter": "lakehouse sync crm",
    "ops.purges": "lakehouse maintain --purge-erased",
}
# `<format>.`<path>`` reads files, not a table of the lake
FILE_FORMATS = frozenset({"delta", "parquet", "csv", "json", "orc", "text", "avro", "binaryfile"})


class UnknownTable(LookupError):
    """A table name that is not a table of the lake; the message suggests the closest ones, and
    with `list_known` names every table of the lake (for commands that take several)."""

    def __init__(self, typed: str, existing: Iterable[str], list_known: bool = False) -> None:
        existing = list(existing)
        self.table = typed
        self.suggestions = closest_tables(typed, existing)
        hints = ["did you mean " + _either(self.suggestions) + "?"] if self.suggestions else []
        if list_known:
            listing = (f"the lake's tables: {', '.join(existing)}" if existing
                       else "the lake has no tables yet (`lakehouse run` builds them)")
            hints.append(listing[0].upper() + listing[1:] if hints else listing)  # after a question
        elif not hints:
            hints.append("`lakehouse tables` lists the tables")
        super().__init__(f"table {typed} does not exist; {' '.join(hints)}")


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def closest_tables(typed: str, existing: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` of `existing` closest to `typed`, the closest first: by the whole name, or by the
    table's name alone (`platinum.daily_sales` is close to `gold.daily_sales`)."""
    typed = typed.lower()
    bare = typed.rsplit(".", 1)[-1]

    def score(table: str) -> float:
        whole = difflib.SequenceMatcher(None, typed, table).ratio()
        alone = difflib.SequenceMatcher(None, bare, table.rsplit(".", 1)[-1]).ratio()
        return max(whole, alone)

    scored = sorted(((score(t), t) for t in existing), key=lambda pair: (-pair[0], pair[1]))
    return [table for value, table in scored if value >= 0.75][:n]


def resolve(typed: str, existing: Iterable[str], list_known: bool = False) -> str:
    """The lake table `typed` names (`gold.daily_sales`, `` `gold`.`daily_sales` ``, any case,
    `spark_catalog.` before it), or UnknownTable (naming every table with `list_known`). A name
    that is a path (`../x`) is no table."""
    existing = list(existing)
    parts = [p.strip().strip("`").lower() for p in typed.split(".")]
    if len(parts) == 3 and parts[0] == "spark_catalog":
        parts = parts[1:]
    name = ".".join(parts)
    if name not in existing:
        raise UnknownTable(typed.strip(), existing, list_known)
    return name


def unknown_tables(sql: str, existing: Iterable[str]) -> list[str]:
    """The tables `sql` reads that are not in `existing`, as typed, in the order they appear
    (CTEs, table functions and file paths are not tables); [] when `sql` does not parse."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its warnings quote the statement
    try:
        trees = [t for t in sqlglot.parse(sql, read="spark") if t is not None]
    except SqlglotError:
        return []
    known = set(existing)
    found: list[str] = []
    for tree in trees:
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier) or table.db.lower() in FILE_FORMATS:
                continue
            if re.search(r"[/:]", table.name) or (not table.db and table.name.lower() in ctes):
                continue
            typed = ".".join(part for part in (table.db, table.name) if part)
            if typed.lower() not in known and typed not in found:
                found.append(typed)
    return found


# -- a table's declaration ---------------------------------------------------------------------
@functools.cache
def specs() -> dict[str, TableSpec]:
    """Every declared table (silver, gold and the rejects) by name."""
    from lakehouse.gold import customer_churn_scores, model_monitoring
    from lakehouse.jobs import JOBS, base

    declared = [job.spec for job in JOBS.values() if job.spec is not None]
    return {s.name: s for s in [*declared, customer_churn_scores.SPEC, model_monitoring.SPEC, base.REJECTS]}


def comments_of(table: str) -> dict[str, str]:
    """Column -> comment, as the table's definition declares them (bronze: its ingestion columns)."""
    from lakehouse.bronze.records import INGESTION_COMMENTS

    if table.startswith("bronze."):
        return dict(INGESTION_COMMENTS)
    spec = specs().get(table)
    return dict(spec.comments) if spec else {}


def key_of(table: str) -> list[str]:
    spec = specs().get(table)
    return list(spec.key) if spec else []


def writer_of(table: str) -> str:
    """The jobs (or commands) that write `table`; "" when none is declared."""
    from lakehouse.jobs import JOBS

    names = [job.name for job in JOBS.values() if table in job.outputs]
    layer = names[0].split("_", 1)[0] if names else ""
    if len(names) > 1 and names == [job.name for job in JOBS.values() if job.layer == layer]:
        names = [f"every {layer} job"]  # silver.rejects, bronze.quarantine
    if table in OTHER_WRITERS:
        names.append(OTHER_WRITERS[table])
    return ", ".join(names)


# -- describing a table ------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str  # as Spark SQL names it: bigint, decimal(18,2), timestamp, ...
    nullable: bool
    comment: str | None


@dataclass(frozen=True)
class TableDescription:
    name: str
    location: str
    columns: tuple[ColumnInfo, ...]
    partition_by: tuple[str, ...]
    key: tuple[str, ...]
    rows: int
    version: int
    last_change: dt.datetime
    written_by: str

    def headline(self) -> str:
        """One line: name, rows, Delta version, partitioning and the job that writes it."""
        parts = f"partitioned by {', '.join(self.partition_by)}" if self.partition_by else "not partitioned"
        line = f"{self.name}: {self.rows:,} rows, Delta version {self.version}, {parts}"
        return line + (f", written by {self.written_by}" if self.written_by else "")


def describe_table(lake: Location, typed: str) -> TableDescription:
    """What the Delta log and the table's declaration say about `typed` (UnknownTable if it is no
    table under `lake`)."""
    name = resolve(typed, delta_tables(lake))
    layer, table = name.split(".")
    path = lake / layer / table
    delta = delta_table(path)
    # Delta keeps the schema as Spark's own JSON: types come out as Spark SQL names them
    schema = StructType.fromJson(json.loads(delta.schema().to_json()))
    declared = comments_of(name)
    columns = tuple(
        ColumnInfo(f.name, f.dataType.simpleString(), f.nullable, declared.get(f.name) or f.metadata.get("comment"))
        for f in schema.fields
    )
    rows = stats_row_count(delta)
    if rows is None:  # some file has no statistics: its footer says
        rows = delta.to_pyarrow_dataset().count_rows()
    changed = dt.datetime.fromtimestamp(delta.history(1)[0]["timestamp"] / 1000, tz=dt.UTC)
    return TableDescription(
        name,
        str(path),
        columns,
        tuple(delta.metadata().partition_columns),
        tuple(key_of(name)),
        rows,
        int(delta.version()),
        changed,
        writer_of(name),
    )


# -- DESCRIBE and SHOW COLUMNS, as `lakehouse sql` answers them ----------------------------------
_IDENT = r"(?:`[^`]+`|[A-Za-z_]\w*)"
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_DESCRIBE = re.compile(
    rf"\s*DESC(?:RIBE)?\s+(?:TABLE\s+)?(?:(?P<extended>EXTENDED|FORMATTED)\s+)?(?P<name>{_NAME})\s*;?\s*", re.I
)
_SHOW_COLUMNS = re.compile(
    rf"\s*SHOW\s+COLUMNS\s+(?:IN|FROM)\s+(?P<name>{_NAME})(?:\s+(?:IN|FROM)\s+(?P<db>{_IDENT}))?\s*;?\s*", re.I
)
Kind = Literal["describe", "extended", "columns"]


@dataclass(frozen=True)
class DescribeStatement:
    table: str  # as typed
    kind: Kind


def parse_describe(sql: str) -> DescribeStatement | None:
    """`DESCRIBE [TABLE] [EXTENDED|FORMATTED] t` or `SHOW COLUMNS {IN|FROM} t [{IN|FROM} db]`;
    None for any other statement (DESCRIBE of a column, a query or a database included)."""
    if match := _DESCRIBE.fullmatch(sql):
        return DescribeStatement(match["name"], "extended" if match["extended"] else "describe")
    if match := _SHOW_COLUMNS.fullmatch(sql):
        return DescribeStatement(f"{match['db']}.{match['name']}" if match["db"] else match["name"], "columns")
    return None


def describe_result(table: TableDescription, kind: Kind) -> pa.Table:
    """The rows Apache Spark gives for the statement: `col_name` for SHOW COLUMNS; `col_name`,
    `data_type`, `comment` for DESCRIBE, with the partition columns after `# Partition
    Information`, and the table's details after `# Detailed Table Information` when EXTENDED."""
    if kind == "columns":
        return pa.table({"col_name": [c.name for c in table.columns]})
    rows: list[tuple[str, str, str | None]] = [(c.name, c.type, c.comment) for c in table.columns]
    if table.partition_by:
        by_name = {c.name: c for c in table.columns}
        rows += [("# Partition Information", "", ""), ("# col_name", "data_type", "comment")]
        rows += [(p, by_name[p].type, by_name[p].comment) for p in table.partition_by]
    if kind == "extended":
        rows += [("", "", ""), ("# Detailed Table Information", "", "")]
        details = {
            "Name": table.name,
            "Location": table.location,
            "Provider": "delta",
            "Key": ", ".join(table.key),
            "Rows": str(table.rows),
            "Delta version": str(table.version),
            "Last change (UTC)": f"{table.last_change:%Y-%m-%d %H:%M:%S}",
            "Written by": table.written_by,
        }
        rows += [(label, value, None) for label, value in details.items()]
    names = ("col_name", "data_type", "comment")
    return pa.table({name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(names)})
