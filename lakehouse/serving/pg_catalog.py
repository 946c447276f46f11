"""The PostgreSQL catalog of the served gold tables, for the queries clients send about it.

psql's `\\dt` and `\\d`, pgJDBC's `DatabaseMetaData` and BI tools read `pg_catalog` and
`information_schema`, with PostgreSQL's syntax (`OPERATOR(pg_catalog.~)`, `COLLATE`, `::regclass`).
They are answered here without the engine: an in-memory DuckDB (whose parser is PostgreSQL's)
holds the tables clients read (`pg_class`, `pg_attribute`, `pg_type`, ...) in a schema `pgcat`
and `information_schema.tables`/`columns` in `pgis`, filled from the gold tables' Arrow schemas
with PostgreSQL's type OIDs; statements are rewritten onto them by name. Catalog tables nobody
filled (policies, publications, inheritance, ...) answer no rows, as they would on a PostgreSQL
server whose tables have none. Measured: an answer takes about a millisecond.

DuckDB runs with external access off and its configuration locked, and admits one SELECT only:
a catalog query cannot read a file, load an extension or change a setting.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from lakehouse.serving import pg_wire as w
from lakehouse.serving.sql_guard import QueryRejected, check_function

log = logging.getLogger(__name__)

NAMESPACES = {"pg_catalog": 11, "public": 2200, "information_schema": 13000, "gold": 16385}
CATALOG_RELATIONS = {"pg_class": 1259, "pg_attribute": 1249, "pg_type": 1247, "pg_namespace": 2615,
                     "pg_proc": 1255, "pg_description": 2609, "pg_constraint": 2606}
FIRST_TABLE_OID = 16400
SETTINGS = {  # what SHOW, current_setting() and pg_settings answer; SET changes nothing
    "transaction_isolation": "read committed", "transaction isolation level": "read committed",
    "search_path": "gold", "server_version": w.SERVER_PARAMETERS["server_version"], "timezone": "UTC",
    "datestyle": "ISO, MDY", "client_encoding": "UTF8", "server_encoding": "UTF8",
    "standard_conforming_strings": "on", "max_identifier_length": "63", "default_transaction_read_only": "on",
    "transaction_read_only": "on", "lc_collate": "C", "integer_datetimes": "on", "statement_timeout": "0",
    "default_table_access_method": "heap",
}
TYPE_NAMES = {  # oid: (typname, format_type name, length)
    w.BOOL: ("bool", "boolean", 1), w.BYTEA: ("bytea", "bytea", -1), w.INT8: ("int8", "bigint", 8),
    w.INT2: ("int2", "smallint", 2), w.INT4: ("int4", "integer", 4), w.TEXT: ("text", "text", -1),
    w.OID: ("oid", "oid", 4), w.FLOAT4: ("float4", "real", 4), w.FLOAT8: ("float8", "double precision", 8),
    w.VARCHAR: ("varchar", "character varying", -1), w.DATE: ("date", "date", 4),
    w.TIMESTAMP: ("timestamp", "timestamp without time zone", 8),
    w.TIMESTAMPTZ: ("timestamptz", "timestamp with time zone", 8), w.NUMERIC: ("numeric", "numeric", -1),
    w.JSON: ("json", "json", -1), 19: ("name", "name", 64), 18: ("char", '"char"', 1),
}
# DuckDB functions that reach outside the catalog; refused as the guard refuses Spark's file readers.
DUCKDB_REFUSED = re.compile(r"\b(read_\w+|\w+_scan|glob|sniff_csv|query|query_table|getenv|load|install|"
                            r"attach|copy|export|import|pragma|duckdb_\w+|which_secret)\s*\(", re.IGNORECASE)


def column_type(kind: pa.DataType) -> tuple[int, int]:
    """PostgreSQL's (type OID, typmod) for an Arrow type; text for what has no closer match."""
    if pa.types.is_boolean(kind):
        return w.BOOL, -1
    if pa.types.is_int8(kind) or pa.types.is_int16(kind) or pa.types.is_uint8(kind):
        return w.INT2, -1
    if pa.types.is_int32(kind) or pa.types.is_uint16(kind):
        return w.INT4, -1
    if pa.types.is_integer(kind):
        return w.INT8, -1
    if pa.types.is_float16(kind) or pa.types.is_float32(kind):
        return w.FLOAT4, -1
    if pa.types.is_floating(kind):
        return w.FLOAT8, -1
    if pa.types.is_decimal(kind):
        return w.NUMERIC, ((kind.precision << 16) | kind.scale) + 4
    if pa.types.is_date(kind):
        return w.DATE, -1
    if pa.types.is_timestamp(kind):
        return (w.TIMESTAMPTZ if kind.tz else w.TIMESTAMP), -1
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return w.BYTEA, -1
    return w.TEXT, -1


def columns_of(schema: pa.Schema) -> list[w.Column]:
    return [w.Column(f.name, *column_type(f.type)) for f in schema]


def _type_name(oid: int, typmod: int) -> str:
    name = TYPE_NAMES.get(oid, ("text", "text", -1))[1]
    if oid == w.NUMERIC and typmod >= 4:
        return f"numeric({(typmod - 4) >> 16},{(typmod - 4) & 0xFFFF})"
    return name


@dataclass(frozen=True)
class GoldTable:
    name: str  # `gold.<name>`
    schema: pa.Schema
    comments: dict[str, str]  # column comments, where the table's schema has them


EMPTY_TABLES = {  # catalog tables psql and pgJDBC read that hold nothing here
    "pg_attrdef": "oid BIGINT, adrelid BIGINT, adnum INTEGER, adbin VARCHAR",
    "pg_collation": "oid BIGINT, collname VARCHAR, collnamespace BIGINT",
    "pg_index": "indexrelid BIGINT, indrelid BIGINT, indnatts SMALLINT, indnkeyatts SMALLINT, indisunique BOOLEAN, "
                "indisprimary BOOLEAN, indisexclusion BOOLEAN, indimmediate BOOLEAN, indisclustered BOOLEAN, "
                "indisvalid BOOLEAN, indisreplident BOOLEAN, indkey SMALLINT[], indcollation BIGINT[], "
                "indclass BIGINT[], indoption SMALLINT[], indexprs VARCHAR, indpred VARCHAR",
    "pg_constraint": "oid BIGINT, conname VARCHAR, connamespace BIGINT, contype VARCHAR, condeferrable BOOLEAN, "
                     "condeferred BOOLEAN, convalidated BOOLEAN, conrelid BIGINT, contypid BIGINT, conindid BIGINT, "
                     "conparentid BIGINT, confrelid BIGINT, confupdtype VARCHAR, confdeltype VARCHAR, "
                     "confmatchtype VARCHAR, conislocal BOOLEAN, coninhcount INTEGER, connoinherit BOOLEAN, "
                     "conkey SMALLINT[], confkey SMALLINT[], conbin VARCHAR",
    "pg_opclass": "oid BIGINT, opcmethod BIGINT, opcname VARCHAR, opcnamespace BIGINT, opcowner BIGINT, "
                  "opcfamily BIGINT, opcintype BIGINT, opcdefault BOOLEAN, opckeytype BIGINT",
    "pg_sequence": "seqrelid BIGINT, seqtypid BIGINT, seqstart BIGINT, seqincrement BIGINT, seqmax BIGINT, "
                   "seqmin BIGINT, seqcache BIGINT, seqcycle BOOLEAN",
    "pg_inherits": "inhrelid BIGINT, inhparent BIGINT, inhseqno INTEGER",
    "pg_proc": "oid BIGINT, proname VARCHAR, pronamespace BIGINT, prorettype BIGINT, prokind VARCHAR",
    "pg_trigger": "oid BIGINT, tgrelid BIGINT, tgname VARCHAR",
    "pg_rewrite": "oid BIGINT, rulename VARCHAR, ev_class BIGINT",
    "pg_policy": "oid BIGINT, polname VARCHAR, polrelid BIGINT",
    "pg_statistic_ext": "oid BIGINT, stxrelid BIGINT, stxname VARCHAR",
    "pg_publication": "oid BIGINT, pubname VARCHAR, puballtables BOOLEAN, pubinsert BOOLEAN, pubupdate BOOLEAN, "
                      "pubdelete BOOLEAN, pubtruncate BOOLEAN, pubviaroot BOOLEAN",
    "pg_publication_rel": "oid BIGINT, prpubid BIGINT, prrelid BIGINT, prqual VARCHAR, prattrs VARCHAR",
    "pg_publication_namespace": "oid BIGINT, pnpubid BIGINT, pnnspid BIGINT",
    "pg_partitioned_table": "partrelid BIGINT, partstrat VARCHAR",
    "pg_foreign_table": "ftrelid BIGINT, ftserver BIGINT",
    "pg_extension": "oid BIGINT, extname VARCHAR, extversion VARCHAR",
    "pg_enum": "oid BIGINT, enumtypid BIGINT, enumlabel VARCHAR",
    "pg_tablespace": "oid BIGINT, spcname VARCHAR, spcowner BIGINT, spcacl VARCHAR[], spcoptions VARCHAR[]",
    "pg_views": "schemaname VARCHAR, viewname VARCHAR, viewowner VARCHAR, definition VARCHAR",
    "pg_matviews": "schemaname VARCHAR, matviewname VARCHAR",
}
MACROS = [
    "format_type(t, m) AS (SELECT CASE WHEN f.name = 'numeric' AND m >= 4 THEN 'numeric(' || ((m - 4) >> 16) || ',' "
    "|| ((m - 4) & 65535) || ')' ELSE f.name END FROM pgcat._type_names f WHERE f.oid = t)",
    "pg_get_expr(a, b) AS NULL::VARCHAR, (a, b, c) AS NULL::VARCHAR",
    "pg_table_is_visible(o) AS true", "pg_type_is_visible(o) AS true", "pg_collation_is_visible(o) AS true",
    "pg_get_userbyid(o) AS 'lakehouse'", "pg_get_serial_sequence(t, c) AS NULL::VARCHAR",
    # a relation's OID from its name, qualified or not ('pg_catalog.pg_class', 'gold.daily_sales'), or the OID itself
    "regclass_of(r) AS coalesce(TRY_CAST(r AS BIGINT), (SELECT c.oid FROM pgcat.pg_class c JOIN pgcat.pg_namespace n "
    "ON n.oid = c.relnamespace WHERE c.relname = string_split(r::VARCHAR, '.')[-1] AND (r::VARCHAR NOT LIKE '%.%' "
    "OR n.nspname = string_split(r::VARCHAR, '.')[1])))",
    "to_regtype(t) AS (SELECT f.oid FROM pgcat._type_names f WHERE f.typname = t OR f.name = t)",
    "obj_description(o) AS (SELECT description FROM pgcat.pg_description WHERE objoid = o AND objsubid = 0), "
    "(o, c) AS (SELECT description FROM pgcat.pg_description WHERE objoid = o AND objsubid = 0)",
    "col_description(o, n) AS (SELECT description FROM pgcat.pg_description WHERE objoid = o AND objsubid = n)",
    "shobj_description(o, c) AS NULL::VARCHAR", "pg_encoding_to_char(e) AS 'UTF8'",
    "has_table_privilege(a, b) AS true, (a, b, c) AS true", "has_schema_privilege(a, b) AS true, (a, b, c) AS true",
    "has_database_privilege(a, b) AS true, (a, b, c) AS true",
    "current_schemas(b) AS ['gold', 'pg_catalog']", "current_schema() AS 'gold'",
    "current_database() AS 'lakehouse'",
    "current_setting(n) AS (SELECT s.setting FROM pgcat.pg_settings s WHERE s.name = lower(n)), "
    "(n, missing_ok) AS (SELECT s.setting FROM pgcat.pg_settings s WHERE s.name = lower(n))", "pg_backend_pid() AS 1",
    "version() AS 'PostgreSQL 14.0 (lakehouse: Spark SQL over the gold tables, read only)'",
    "pg_get_indexdef(a) AS NULL::VARCHAR, (a, b, c) AS NULL::VARCHAR",
    "pg_get_constraintdef(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR",
    "pg_get_viewdef(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR",
    "pg_relation_size(a) AS 0::BIGINT", "pg_total_relation_size(a) AS 0::BIGINT",
    "array_lower(a, d) AS 1", "array_upper(a, d) AS len(a)",
]

SEARCH_PATH = "SET search_path = 'pgcat,pgis'"
# PostgreSQL's OID and name types, as casts (`x::regclass`, `CAST(x AS oid)`) meet them
OID_TYPES = {**dict.fromkeys(("oid", "regclass", "regtype", "regproc", "regprocedure", "regnamespace", "regrole"),
                             "BIGINT"), "name": "VARCHAR"}
OWN_FUNCTIONS = frozenset(m.split("(", 1)[0].strip().lower() for m in MACROS)


class PgCatalog:
    """`pg_catalog` and `information_schema` over the gold tables, answered by DuckDB."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._db: duckdb.DuckDBPyConnection | None = None
        self._key: tuple[Any, ...] | None = None
        self._lock = threading.Lock()

    def load(self, key: tuple[Any, ...], tables: Callable[[], Sequence[GoldTable]]) -> None:
        """Build the catalog for `tables()` unless it was built for the same `key` (the tables' versions)."""
        with self._lock:
            if key == self._key:
                return
        db = _build(tables())
        with self._lock:  # the old database closes when its last query's cursor lets it go
            self._db, self._key = db, key

    def query(
        self, sql: str, values: Sequence[Any] = (), limit: int | None = None
    ) -> tuple[list[w.Column], list[tuple[Any, ...]]]:
        """Answer one catalog SELECT with at most `limit` + 1 rows (the caller cuts and says so);
        QueryRejected for anything else; a `duckdb.Error` (a bad cast, an overflow) as it is."""
        rewritten = rewrite(sql)
        statements = duckdb.extract_statements(rewritten)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise QueryRejected("only SELECT is allowed on the catalog")
        refused = DUCKDB_REFUSED.search(rewritten)
        if refused:
            raise QueryRejected(f"function '{refused.group(1).lower()}' is not allowed on the catalog")
        with self._lock:
            db = self._db
        if db is None:
            raise QueryRejected("the catalog is not loaded yet")
        cursor = db.cursor()
        cursor.execute(SEARCH_PATH)  # a cursor is a connection of its own: unqualified names resolve as PostgreSQL's
        timer = threading.Timer(self.timeout, cursor.interrupt)
        timer.start()
        try:
            result = cursor.sql(rewritten, params=list(values) or None)
            if limit is None:
                arrow = result.to_arrow_table()
            else:  # read no more than the caller can send: `unnest(range(5000000))` stays small
                batches, kept = [], 0
                reader = result.to_arrow_reader(1024)
                assert reader is not None
                for batch in reader:
                    batches.append(batch)
                    kept += batch.num_rows
                    if kept > limit:
                        break
                arrow = pa.Table.from_batches(batches, schema=reader.schema).slice(0, limit + 1)
            assert arrow is not None
        except duckdb.InterruptException:
            raise QueryRejected(f"catalog query cancelled after {self.timeout:g} s") from None
        except (duckdb.CatalogException, duckdb.BinderException) as exc:
            # a catalog table or column nobody keeps here: no rows, as a server without such objects
            log.debug("pg catalog: answered with no rows: %s", type(exc).__name__)
            names = _select_names(sql)
            if names is None:
                raise QueryRejected(f"catalog query not supported: {str(exc).splitlines()[0][:200]}") from None
            return [w.Column(n, w.TEXT) for n in names], []
        finally:
            timer.cancel()
            cursor.close()
        columns = [w.Column(_column_name(c.name), c.oid, c.typmod) for c in columns_of(arrow.schema)]
        return columns, [tuple(r.values()) for r in arrow.to_pylist()] if arrow.num_columns else []


def _column_name(name: str) -> str:
    """PostgreSQL's name for an unnamed function column (`version()` is "version")."""
    match = re.fullmatch(r'(?:\w+\.)?"?(\w+)"?\(.*\)', name)
    return match.group(1) if match else name


def _select_names(sql: str) -> list[str] | None:
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.ParseError:
        return None
    if isinstance(tree, exp.Union):
        first = tree.find(exp.Select)
        tree = first if first is not None else tree
    if not isinstance(tree, exp.Select):
        return None
    return [e.alias_or_name or "?column?" for e in tree.expressions]


def rewrite(sql: str) -> str:
    """PostgreSQL's catalog names and syntax onto the DuckDB tables and macros that answer them."""
    sql = re.sub(r"COLLATE\s+(pg_catalog\.)?\"?default\"?", "", sql, flags=re.IGNORECASE)
    sql = re.sub(r"OPERATOR\s*\(\s*pg_catalog\.([^)\s]+)\s*\)", r"\1", sql, flags=re.IGNORECASE)
    # a relation named by a string (psql's 'pg_catalog.pg_class'::regclass, a bound parameter): its OID;
    # other casts to OID types are DuckDB types of the same names (`OID_TYPES`)
    sql = re.sub(r"('[^']*'|\$\d+)\s*::\s*(\"?pg_catalog\"?\.)?regclass\b", r"pgcat.regclass_of(\1)", sql,
                 flags=re.IGNORECASE)
    sql = re.sub(r"CAST\s*\(\s*('[^']*'|\$\d+)\s+AS\s+(\"?pg_catalog\"?\.)?regclass\s*\)", r"pgcat.regclass_of(\1)",
                 sql, flags=re.IGNORECASE)
    sql = re.sub(r"\bjson_build_object\s*\(", "json_object(", sql, flags=re.IGNORECASE)
    sql = re.sub(r"::\s*\"?pg_catalog\"?\.", "::", sql, flags=re.IGNORECASE)
    sql = re.sub(r"(?<![.\w])version\s*\(\s*\)", "pgcat.version()", sql, flags=re.IGNORECASE)
    # a function qualified with pg_catalog: ours where we define it, else DuckDB's own (unnest,
    # array_to_string, ...), which it does not find under the catalog's schema
    sql = re.sub(r"\"?pg_catalog\"?\s*\.\s*(\w+)\s*\(",
                 lambda m: f"{'pgcat.' if m.group(1).lower() in OWN_FUNCTIONS else ''}{m.group(1)}(", sql,
                 flags=re.IGNORECASE)
    sql = re.sub(r"\"?pg_catalog\"?\s*\.", "pgcat.", sql, flags=re.IGNORECASE)
    sql = re.sub(r"\"?information_schema\"?\s*\.", "pgis.", sql, flags=re.IGNORECASE)
    return sql


def _build(tables: Sequence[GoldTable]) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(":memory:", config={"threads": 1})
    db.execute("SET GLOBAL TimeZone = 'UTC'")  # timestamps in UTC, as the lake keeps them
    db.execute("CREATE SCHEMA pgcat; CREATE SCHEMA pgis")
    db.execute("CREATE TABLE pgcat._type_names (oid BIGINT, typname VARCHAR, name VARCHAR, len INTEGER)")
    db.executemany("INSERT INTO pgcat._type_names VALUES (?, ?, ?, ?)",
                   [(oid, t[0], t[1], t[2]) for oid, t in TYPE_NAMES.items()])
    db.execute("""CREATE TABLE pgcat.pg_namespace AS SELECT * FROM (VALUES
        (11, 'pg_catalog', 10, NULL::VARCHAR), (2200, 'public', 10, NULL), (13000, 'information_schema', 10, NULL),
        (16385, 'gold', 10, NULL)) AS t(oid, nspname, nspowner, nspacl)""")
    db.execute("""CREATE TABLE pgcat.pg_type AS SELECT oid, typname, 11::BIGINT AS typnamespace, 10 AS typowner,
        len::SMALLINT AS typlen, len > 0 AS typbyval, 'b' AS typtype, 'U' AS typcategory, false AS typispreferred,
        true AS typisdefined, ',' AS typdelim, 0::BIGINT AS typrelid, 0::BIGINT AS typelem, 0::BIGINT AS typarray,
        typname || 'in' AS typinput, typname || 'out' AS typoutput, typname || 'recv' AS typreceive,
        typname || 'send' AS typsend, false AS typnotnull, 0::BIGINT AS typbasetype, -1 AS typtypmod,
        0 AS typndims, 0::BIGINT AS typcollation, NULL::VARCHAR AS typdefault FROM pgcat._type_names""")
    classes, attributes, descriptions, info_columns = [], [], [], []
    for name, oid in CATALOG_RELATIONS.items():
        classes.append((oid, name, 11, "r", 0))
    for i, table in enumerate(tables):
        oid = FIRST_TABLE_OID + i
        short = table.name.split(".", 1)[1]
        classes.append((oid, short, NAMESPACES["gold"], "r", len(table.schema)))
        for number, column in enumerate(columns_of(table.schema), start=1):
            length = TYPE_NAMES.get(column.oid, ("", "", -1))[2]
            attributes.append((oid, column.name, column.oid, length, number, column.typmod))
            comment = table.comments.get(column.name)
            if comment:
                descriptions.append((oid, 1259, number, comment))
            precision = ((column.typmod - 4) >> 16) if column.oid == w.NUMERIC and column.typmod >= 4 else None
            scale = ((column.typmod - 4) & 0xFFFF) if precision is not None else None
            udt = TYPE_NAMES.get(column.oid, ("text",))[0]
            info_columns.append(("lakehouse", "gold", short, column.name, number, None, "YES",
                                 _type_name(column.oid, -1), precision, scale, udt))
    db.execute("""CREATE TABLE pgcat.pg_class (oid BIGINT, relname VARCHAR, relnamespace BIGINT, relkind VARCHAR,
        relnatts INTEGER)""")
    db.executemany("INSERT INTO pgcat.pg_class VALUES (?, ?, ?, ?, ?)", classes)
    db.execute("""CREATE OR REPLACE TABLE pgcat.pg_class AS SELECT oid, relname, relnamespace, 0::BIGINT AS reltype,
        0::BIGINT AS reloftype, 10::BIGINT AS relowner, 2::BIGINT AS relam, oid AS relfilenode,
        0::BIGINT AS reltablespace, 0 AS relpages, -1.0::REAL AS reltuples, 0 AS relallvisible,
        0::BIGINT AS reltoastrelid, false AS relhasindex, false AS relisshared, 'p' AS relpersistence, relkind,
        relnatts::SMALLINT AS relnatts, 0::SMALLINT AS relchecks, false AS relhasoids, false AS relhasrules,
        false AS relhastriggers, false AS relhassubclass, false AS relrowsecurity, false AS relforcerowsecurity,
        true AS relispopulated, 'd' AS relreplident, false AS relispartition, NULL::VARCHAR AS relpartbound,
        NULL::VARCHAR[] AS reloptions, NULL::VARCHAR[] AS relacl FROM pgcat.pg_class""")
    db.execute("""CREATE TABLE pgcat.pg_attribute (attrelid BIGINT, attname VARCHAR, atttypid BIGINT,
        attlen SMALLINT, attnum SMALLINT, atttypmod INTEGER)""")
    if attributes:
        db.executemany("INSERT INTO pgcat.pg_attribute VALUES (?, ?, ?, ?, ?, ?)", attributes)
    db.execute("""CREATE OR REPLACE TABLE pgcat.pg_attribute AS SELECT attrelid, attname, atttypid,
        -1 AS attstattarget, attlen, attnum, 0 AS attndims, -1 AS attcacheoff, atttypmod, attlen > 0 AS attbyval,
        'p' AS attstorage, 'i' AS attalign, false AS attnotnull, false AS atthasdef, false AS atthasmissing,
        '' AS attidentity, '' AS attgenerated, '' AS attcompression, false AS attisdropped, true AS attislocal,
        0 AS attinhcount,
        0::BIGINT AS attcollation, NULL::VARCHAR[] AS attacl, NULL::VARCHAR[] AS attoptions,
        NULL::VARCHAR[] AS attfdwoptions FROM pgcat.pg_attribute""")
    db.execute("CREATE TABLE pgcat.pg_description (objoid BIGINT, classoid BIGINT, objsubid INTEGER, "
               "description VARCHAR)")
    if descriptions:
        db.executemany("INSERT INTO pgcat.pg_description VALUES (?, ?, ?, ?)", descriptions)
    db.execute("CREATE TABLE pgcat.pg_am AS SELECT 2::BIGINT AS oid, 'heap' AS amname, 't' AS amtype")
    db.execute("""CREATE TABLE pgcat.pg_database AS SELECT 16384::BIGINT AS oid, 'lakehouse' AS datname,
        10::BIGINT AS datdba, 6 AS encoding, 'C' AS datcollate, 'C' AS datctype, false AS datistemplate,
        true AS datallowconn, -1 AS datconnlimit, NULL::VARCHAR[] AS datacl""")
    db.execute("""CREATE TABLE pgcat.pg_roles AS SELECT 10::BIGINT AS oid, 'lakehouse' AS rolname,
        false AS rolsuper, false AS rolcreaterole, false AS rolcreatedb, true AS rolcanlogin""")
    db.execute("CREATE VIEW pgcat.pg_user AS SELECT rolname AS usename, oid AS usesysid FROM pgcat.pg_roles")
    db.execute("""CREATE VIEW pgcat.pg_tables AS SELECT 'gold' AS schemaname, relname AS tablename,
        'lakehouse' AS tableowner, NULL::VARCHAR AS tablespace, false AS hasindexes, false AS hasrules,
        false AS hastriggers, false AS rowsecurity FROM pgcat.pg_class WHERE relnamespace = 16385""")
    db.execute("CREATE TABLE pgcat.pg_settings (name VARCHAR, setting VARCHAR)")
    db.executemany("INSERT INTO pgcat.pg_settings VALUES (?, ?)", list(SETTINGS.items()))
    for name, columns in EMPTY_TABLES.items():
        db.execute(f"CREATE TABLE pgcat.{name} ({columns})")
    for name, kind in OID_TYPES.items():
        db.execute(f"CREATE TYPE pgcat.{name} AS {kind}")
    for macro in MACROS:
        db.execute(f"CREATE MACRO pgcat.{macro}")
    db.execute("""CREATE TABLE pgis.tables AS SELECT 'lakehouse' AS table_catalog, 'gold' AS table_schema,
        relname AS table_name, 'BASE TABLE' AS table_type, NULL::VARCHAR AS self_referencing_column_name,
        NULL::VARCHAR AS reference_generation, NULL::VARCHAR AS user_defined_type_catalog,
        NULL::VARCHAR AS user_defined_type_schema, NULL::VARCHAR AS user_defined_type_name,
        'NO' AS is_insertable_into, 'NO' AS is_typed, NULL::VARCHAR AS commit_action
        FROM pgcat.pg_class WHERE relnamespace = 16385 ORDER BY relname""")
    db.execute("""CREATE TABLE pgis.columns (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR,
        column_name VARCHAR, ordinal_position INTEGER, column_default VARCHAR, is_nullable VARCHAR,
        data_type VARCHAR, numeric_precision INTEGER, numeric_scale INTEGER, udt_name VARCHAR)""")
    if info_columns:
        db.executemany("INSERT INTO pgis.columns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", info_columns)
    db.execute("""CREATE TABLE pgis.schemata AS SELECT 'lakehouse' AS catalog_name, nspname AS schema_name,
        'lakehouse' AS schema_owner FROM pgcat.pg_namespace""")
    db.execute("CREATE TABLE pgis.views (table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, "
               "view_definition VARCHAR)")
    db.execute(SEARCH_PATH)
    db.execute("SET enable_external_access = false")
    db.execute("SET lock_configuration = true")
    return db


def check_catalog_functions(tree: exp.Expression) -> None:
    """The shared guard's function rules, for a catalog statement sqlglot could parse."""
    for node in tree.find_all(exp.Func):
        name = str(node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        check_function(name)
