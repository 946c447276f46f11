"""The Spark SQL endpoint's gateway: API keys and read-only plans over gold in front of the engine.

Neither Sail nor Spark Connect authenticate clients, and a Spark Connect session can read any
path the engine can (`spark.read.text("/etc/passwd")`), write tables and change its catalog. So
the engine listens on a random loopback port and clients reach it only through this gRPC server,
which implements the same `SparkConnectService`:

- every call needs `authorization: Bearer <key>` with a key of `LAKEHOUSE_API_KEYS` (stock
  PySpark sends it for `sc://localhost:<port>/;token=<key>`), checked before the request is read;
  otherwise UNAUTHENTICATED;
- `ExecutePlan` and `AnalyzePlan` are admitted only for plans proven to read served gold tables:
  the relation tree is walked, SQL text goes through the REST `/sql` guard (`sql_guard`), tables
  read by name must be `gold.<served table>`, and everything else (reads of files and data
  sources, DDL, DML, `SET`, temporary views, catalog changes, Python code, functions that reach
  files or the JVM) is refused with PERMISSION_DENIED and the reason. Checked SQL and table names
  are replaced by their checked form, so what runs is what was checked;
- `Config` answers reads of session settings and refuses changes; artifacts are refused;
- reattaching, releasing and interrupting executions and error details are forwarded.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import ipaddress
import logging
import re
import socket
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cachetools import LRUCache
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_status import rpc_status
from pyspark.sql.connect.proto import base_pb2, base_pb2_grpc, catalog_pb2, commands_pb2, expressions_pb2, relations_pb2

from lakehouse.serving.security import KeyChecker, UnsafeBinding, is_local
from lakehouse.serving.sql_guard import QueryRejected, check_expression, check_function, check_query, check_table

log = logging.getLogger(__name__)
MAX_MESSAGE = 128 * 1024 * 1024  # Spark Connect's own default inbound limit
REFUSED = "refused by the lakehouse SQL endpoint"

# Relations that only reshape what their inputs read (read, sql and catalog are checked further).
RELATIONS = frozenset({
    "read", "sql", "catalog", "project", "filter", "join", "set_op", "sort", "limit", "aggregate",
    "local_relation", "sample", "offset", "deduplicate", "range", "subquery_alias", "repartition", "to_df",
    "with_columns_renamed", "show_string", "drop", "tail", "with_columns", "hint", "unpivot", "to_schema",
    "repartition_by_expression", "collect_metrics", "parse", "html_string", "as_of_join", "with_relations",
    "transpose", "lateral_join", "fill_na", "drop_na", "replace", "summary", "crosstab", "describe", "cov",
    "corr", "approx_quantile", "freq_items", "sample_by",
})
EXPRESSIONS = frozenset({
    "literal", "unresolved_attribute", "unresolved_function", "expression_string", "unresolved_star", "alias",
    "cast", "unresolved_regex", "sort_order", "lambda_function", "window", "unresolved_extract_value",
    "update_fields", "unresolved_named_lambda_variable", "call_function", "named_argument_expression",
    "subquery_expression",
})
# Catalog calls that only look at gold; each names a database or table that is checked.
CATALOG_READS = frozenset({"current_database", "current_catalog", "list_tables", "list_columns", "get_table",
                           "table_exists"})
CONFIG_READS = frozenset({"get", "get_with_default", "get_option", "is_modifiable"})
CONFIG_PREFIXES = ("spark.sql.", "spark.connect.", "spark.python.")  # what PySpark reads (Arrow, time zone, display)
SECRET_WORDS = re.compile(r"secret|password|token|credential|key", re.IGNORECASE)
ANALYSES = frozenset({"schema", "explain", "tree_string", "is_local", "is_streaming", "spark_version",
                      "ddl_parse", "same_semantics", "semantic_hash", "get_storage_level", "json_to_ddl"})
WHAT = {  # how a refused plan part is named in the error
    "map_partitions": "Python code on the server (mapInPandas/mapInArrow)",
    "group_map": "Python code on the server (applyInPandas)",
    "co_group_map": "Python code on the server (cogroup applyInPandas)",
    "apply_in_pandas_with_state": "Python code on the server (applyInPandasWithState)",
    "common_inline_user_defined_table_function": "Python table functions (UDTF)",
    "common_inline_user_defined_data_source": "Python data sources",
    "common_inline_user_defined_function": "user-defined functions (UDF)",
    "typed_aggregate_expression": "typed aggregates",
    "unresolved_table_valued_function": "table functions",
    "cached_local_relation": "cached local relations",
    "cached_remote_relation": "cached remote relations",
    "with_watermark": "streaming",
    "write_operation": "writing (DataFrame.write)",
    "write_operation_v2": "writing (DataFrame.writeTo)",
    "create_dataframe_view": "temporary views (createOrReplaceTempView, createOrReplaceGlobalTempView)",
    "register_function": "registering functions",
    "register_table_function": "registering table functions",
    "register_data_source": "registering data sources",
    "write_stream_operation_start": "streaming",
    "checkpoint_command": "checkpoints",
    "merge_into_table_command": "MERGE",
    "persist": "caching (DataFrame.persist)",
    "unpersist": "caching (DataFrame.unpersist)",
    "input_files": "listing the files of a table (DataFrame.inputFiles)",
}


class PlanRefused(PermissionError):
    """The request would do more than read served gold tables; says what was refused."""


def _what(kind: str) -> str:
    return WHAT.get(kind, f"'{kind}'")


class PlanGuard:
    """Admits a Spark Connect plan only when it reads served gold tables and nothing else.

    `check_*` raise PlanRefused, and rewrite checked SQL and table names in place."""

    def __init__(self, tables: Callable[[], Collection[str]], cached: int = 1024) -> None:
        self.tables = tables  # the served gold tables, `gold.<name>`
        # Parsing and regenerating a statement costs milliseconds, and clients send the same ones
        # again (and `spark.sql(q).collect()` sends q twice: as a command, then as the relation
        # the engine answered with, which is the checked text): admitted statements are kept.
        self._admitted: LRUCache[tuple[str, frozenset[str]], str] = LRUCache(maxsize=cached)
        self._lock = threading.Lock()

    def check_plan(self, plan: base_pb2.Plan) -> None:
        kind = plan.WhichOneof("op_type")
        if kind == "root":
            self._walk(plan.root, frozenset(self.tables()))
        elif kind == "command":
            command = plan.command.WhichOneof("command_type")
            if command == "sql_command":
                self._sql_command(plan.command.sql_command, frozenset(self.tables()))
            elif command != "get_resources_command":
                raise PlanRefused(f"{_what(command or 'an empty command')}: not allowed, only reads of gold tables are")
        else:
            raise PlanRefused("an empty plan is not allowed")

    def check_analyze(self, request: base_pb2.AnalyzePlanRequest) -> None:
        kind = request.WhichOneof("analyze")
        if kind not in ANALYSES:
            raise PlanRefused(f"{_what(kind or 'an empty analysis')}: not allowed, only reads of gold tables are")
        allowed = frozenset(self.tables())
        for plan in _messages(getattr(request, kind), base_pb2.Plan):
            if plan.WhichOneof("op_type") != "root":
                raise PlanRefused("analysing a command is not allowed")
            self._walk(plan.root, allowed)

    @staticmethod
    def check_config(request: base_pb2.ConfigRequest) -> None:
        kind = request.operation.WhichOneof("op_type")
        if kind not in CONFIG_READS:
            raise PlanRefused(f"changing or listing settings ({kind or 'empty'}): not allowed, settings are read-only")
        operation = getattr(request.operation, kind)
        keys = [p.key for p in operation.pairs] if kind == "get_with_default" else list(operation.keys)
        for key in keys:  # the engine's other settings may hold storage credentials
            if not key.startswith(CONFIG_PREFIXES) or SECRET_WORDS.search(key):
                raise PlanRefused(f"reading setting '{key}' is not allowed: only the "
                                  f"{', '.join(p + '*' for p in CONFIG_PREFIXES)} settings can be read")

    def _sql_command(self, command: commands_pb2.SqlCommand, allowed: frozenset[str]) -> None:
        if command.sql:
            command.sql = self._sql(command.sql, allowed)
        self._walk(command, allowed)

    def _sql(self, query: str, allowed: frozenset[str]) -> str:
        with self._lock:
            checked = self._admitted.get((query, allowed))
        if checked is not None:
            return checked
        try:
            checked = check_query(query, allowed).sql
        except QueryRejected as exc:
            raise PlanRefused(str(exc)) from None
        with self._lock:
            self._admitted[(query, allowed)] = self._admitted[(checked, allowed)] = checked
        return checked

    def _walk(self, message: Message, allowed: frozenset[str]) -> None:
        """Check `message` and every message inside it, whatever field holds it."""
        if isinstance(message, relations_pb2.Relation):
            self._relation(message, allowed)
        elif isinstance(message, expressions_pb2.Expression):
            self._expression(message, allowed)
        elif isinstance(message, catalog_pb2.Catalog):
            self._catalog(message, allowed)
        for field, value in message.ListFields():
            if field.type != field.TYPE_MESSAGE:
                continue
            if field.message_type.full_name == "google.protobuf.Any":
                raise PlanRefused(f"extensions ({field.name}) are not allowed")
            if field.message_type.GetOptions().map_entry:
                children = value.values() if field.message_type.fields_by_name["value"].message_type else ()
            elif _repeated(field):
                children = value
            else:
                children = (value,)
            for child in children:
                self._walk(child, allowed)

    def _relation(self, relation: relations_pb2.Relation, allowed: frozenset[str]) -> None:
        kind = relation.WhichOneof("rel_type")
        if kind not in RELATIONS:
            raise PlanRefused(f"{_what(kind or 'an empty relation')}: not allowed, only reads of gold tables are")
        if kind == "read":
            read = relation.read
            if read.WhichOneof("read_type") != "named_table":
                raise PlanRefused("reading files or data sources (spark.read) is not allowed: "
                                  "read gold tables by name, spark.table('gold.<table>')")
            if read.is_streaming:
                raise PlanRefused("streaming reads are not allowed")
            if read.named_table.options:
                raise PlanRefused("read options are not allowed: read gold tables by name")
            read.named_table.unparsed_identifier = _checked(check_table, read.named_table.unparsed_identifier,
                                                            allowed)
        elif kind == "sql":
            relation.sql.query = self._sql(relation.sql.query, allowed)

    def _expression(self, expression: expressions_pb2.Expression, allowed: frozenset[str]) -> None:
        kind = expression.WhichOneof("expr_type")
        if kind not in EXPRESSIONS:
            raise PlanRefused(f"{_what(kind or 'an empty expression')}: not allowed in a query over gold tables")
        if kind == "unresolved_function":
            function = expression.unresolved_function
            if function.is_user_defined_function:
                raise PlanRefused(f"user-defined function '{function.function_name}' is not allowed")
            _checked(check_function, function.function_name)
        elif kind == "call_function":
            _checked(check_function, expression.call_function.function_name)
        elif kind == "expression_string":
            text = expression.expression_string.expression
            expression.expression_string.expression = _checked(check_expression, text, allowed)

    @staticmethod
    def _catalog(catalog: catalog_pb2.Catalog, allowed: frozenset[str]) -> None:
        kind = catalog.WhichOneof("cat_type")
        if kind not in CATALOG_READS:
            raise PlanRefused(f"catalog call '{kind}' is not allowed: the catalog is read-only, gold only")
        call = getattr(catalog, kind)
        database = getattr(call, "db_name", "")
        if kind == "list_tables" and database.lower() != "gold":
            raise PlanRefused("listing tables is allowed for the gold database only: spark.catalog.listTables('gold')")
        if kind in ("list_columns", "get_table", "table_exists"):
            name = f"{database}.{call.table_name}" if database else call.table_name
            call.table_name = _checked(check_table, name, allowed)
            if database:
                call.ClearField("db_name")


def _checked(check: Callable[..., str | None], *args: Any) -> str:
    try:
        return check(*args) or ""
    except QueryRejected as exc:
        raise PlanRefused(str(exc)) from None


def _repeated(field: Any) -> bool:
    is_repeated = getattr(field, "is_repeated", None)  # protobuf 6+; `label` before
    return bool(is_repeated) if is_repeated is not None else field.label == field.LABEL_REPEATED


def _messages(message: Message, kind: type[Message]) -> Iterator[Any]:
    """Every message of type `kind` among the direct fields of `message`."""
    for field, value in message.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for item in (value if _repeated(field) else (value,)):
                if isinstance(item, kind):
                    yield item


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> None:
    """End the call with `code`; as a `google.rpc.Status`, so PySpark shows `message` alone."""
    context.abort_with_status(rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message)))


class _Unauthenticated(grpc.ServerInterceptor):
    """Refuses a call without a valid key before its request is read or reaches the engine."""

    def __init__(self, keys: KeyChecker) -> None:
        self.keys = keys

        def deny(message: str) -> grpc.RpcMethodHandler:
            def abort(request: Any, context: grpc.ServicerContext) -> None:
                _abort(context, grpc.StatusCode.UNAUTHENTICATED, message)
            return abort

        self._missing = deny("missing API key: connect with sc://<host>:<port>/;token=<key>")
        self._wrong = deny("API key not accepted")

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        metadata = dict(details.invocation_metadata or ())
        scheme, _, token = str(metadata.get("authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _denied(continuation(details), self._missing)
        if not self.keys.valid(token.strip()):
            return _denied(continuation(details), self._wrong)
        return continuation(details)


def _denied(handler: grpc.RpcMethodHandler | None, abort: Callable[..., None]) -> grpc.RpcMethodHandler | None:
    """A handler of the same shape as `handler` whose only act is to abort (requests unread)."""
    if handler is None:
        return None
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)


class GatewayService(base_pb2_grpc.SparkConnectServiceServicer):
    """Checks each request with `guard` and forwards what is admitted to the engine at `target`."""

    def __init__(self, target: str, guard: PlanGuard, before: Callable[[], None] = lambda: None) -> None:
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", MAX_MESSAGE)]
        self.channel = grpc.insecure_channel(target, options=options)
        self.engine = base_pb2_grpc.SparkConnectServiceStub(self.channel)
        self.guard = guard
        self.before = before

    def _refresh(self) -> None:
        try:
            self.before()
        except Exception:  # keep serving the last good catalog, as its own refresh loop does
            log.exception("sql endpoint: refreshing gold tables failed")

    @staticmethod
    def _refuse(context: grpc.ServicerContext, exc: PlanRefused) -> None:
        log.info("sql endpoint: refused %s", exc)  # the reason only: never the statement
        _abort(context, grpc.StatusCode.PERMISSION_DENIED, f"{REFUSED}: {exc}")

    def _unary(self, method: Callable[..., Any], request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(request, metadata=_forwarded(context))
        except grpc.RpcError as exc:
            _relay(exc, context)

    def _stream(self, method: Callable[..., Any], request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        call = method(request, metadata=_forwarded(context))
        context.add_callback(call.cancel)  # a client that goes away cancels the engine's work
        try:
            yield from call
        except grpc.RpcError as exc:
            _relay(exc, context)

    def ExecutePlan(self, request: base_pb2.ExecutePlanRequest, context: grpc.ServicerContext) -> Iterator[Any]:  # noqa: N802
        self._refresh()  # a new gold table is served, and results come from the latest versions
        try:
            request.DiscardUnknownFields()
            self.guard.check_plan(request.plan)
        except PlanRefused as exc:
            self._refuse(context, exc)
        yield from self._stream(self.engine.ExecutePlan, request, context)

    def AnalyzePlan(self, request: base_pb2.AnalyzePlanRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            request.DiscardUnknownFields()
            self.guard.check_analyze(request)
        except PlanRefused as exc:
            self._refuse(context, exc)
        return self._unary(self.engine.AnalyzePlan, request, context)

    def Config(self, request: base_pb2.ConfigRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            request.DiscardUnknownFields()
            self.guard.check_config(request)
        except PlanRefused as exc:
            self._refuse(context, exc)
        return self._unary(self.engine.Config, request, context)

    def AddArtifacts(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._refuse(context, PlanRefused("uploading artifacts (jars, Python files, UDF code) is not allowed"))

    def ArtifactStatus(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._refuse(context, PlanRefused("artifacts are not allowed"))

    def Interrupt(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return self._unary(self.engine.Interrupt, request, context)

    def ReattachExecute(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:  # noqa: N802
        yield from self._stream(self.engine.ReattachExecute, request, context)

    def ReleaseExecute(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return self._unary(self.engine.ReleaseExecute, request, context)

    def ReleaseSession(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return self._unary(self.engine.ReleaseSession, request, context)

    def FetchErrorDetails(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return self._unary(self.engine.FetchErrorDetails, request, context)


def _forwarded(context: grpc.ServicerContext) -> list[tuple[str, str | bytes]]:
    """The client's metadata for the engine, without its key and gRPC's own headers."""
    return [(k, v) for k, v in context.invocation_metadata() if k != "authorization" and not k.startswith("grpc-")]


def _relay(exc: grpc.RpcError, context: grpc.ServicerContext) -> None:
    """End the call with the engine's status, message and error details."""
    call: Any = exc
    trailing = [(k, v) for k, v in (call.trailing_metadata() or ()) if not k.startswith("grpc-") or
                k == "grpc-status-details-bin"]
    if trailing:
        context.set_trailing_metadata(trailing)
    context.abort(call.code(), call.details() or "")


@dataclass(frozen=True)
class Tls:
    """A PEM server certificate chain and key; `ca` is the file clients trust (None: a public CA's)."""

    cert: Path
    key: Path
    ca: Path | None = None


def check_binding(host: str, keys: Sequence[str], tls: Tls | bool | None) -> None:
    """Refuse to serve Spark SQL beyond this machine without keys and TLS (one line, says what to set)."""
    if is_local(host):
        return
    if not keys:
        raise UnsafeBinding(f"refusing to serve Spark SQL on {host} without API keys: set LAKEHOUSE_API_KEYS")
    if not tls:
        raise UnsafeBinding(f"refusing to serve Spark SQL on {host} without TLS: set serving.sql_tls "
                            "(LAKEHOUSE_SERVING__SQL_TLS=true, or give serving.sql_tls_cert and sql_tls_key)")


def self_signed(directory: Path, host: str) -> Tls:
    """A CA and a server certificate for `host`, this machine's names and loopback, made once under
    `directory` (the key files readable by the owner only) and reused while they cover `host`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    names = sorted({"localhost", socket.gethostname(), socket.getfqdn()} | ({host} if host else set()))
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    if ca_file.exists() and cert_file.exists() and key_file.exists():
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        covered = {str(n) for n in san.get_values_for_type(x509.DNSName)} | {
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        wanted = {n for n in names if n not in ("0.0.0.0", "::")}
        if wanted <= covered and cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
            return Tls(cert_file, key_file, ca_file)
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lakehouse serve CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=825))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    alt: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                   x509.IPAddress(ipaddress.ip_address("::1"))]
    for name in names:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            alt.append(x509.DNSName(name))
        else:
            if not address.is_unspecified and not address.is_loopback:
                alt.append(x509.IPAddress(address))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
              .not_valid_after(now + dt.timedelta(days=397))
              .add_extension(x509.SubjectAlternativeName(alt), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key_file.touch(mode=0o600)
    key_file.write_bytes(key_pem)
    cert_file.write_bytes(server.public_bytes(pem) + ca.public_bytes(pem))
    ca_file.write_bytes(ca.public_bytes(pem))
    return Tls(cert_file, key_file, ca_file)


class Gateway:
    """The gRPC server clients connect to; `port` is where it listens."""

    def __init__(self, host: str, port: int, target: str, keys: Sequence[str], tables: Callable[[], Collection[str]],
                 tls: Tls | None = None, before: Callable[[], None] = lambda: None, workers: int = 32) -> None:
        check_binding(host, keys, tls)
        options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.so_reuseport", 0)]
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="sql-gateway"),
                                  interceptors=[_Unauthenticated(KeyChecker(keys))], options=options)
        self.service = GatewayService(target, PlanGuard(tables), before)
        base_pb2_grpc.add_SparkConnectServiceServicer_to_server(self.service, self.server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if tls is None:
                self.port = self.server.add_insecure_port(address)
            else:
                credentials = grpc.ssl_server_credentials([(tls.key.read_bytes(), tls.cert.read_bytes())])
                self.port = self.server.add_secure_port(address, credentials)
        except RuntimeError:  # gRPC's word for a busy or unknown address
            self.port = 0
        if not self.port:
            self.service.channel.close()
            raise OSError(f"cannot listen on {address} for Spark SQL (in use?)")
        self.tls = tls

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=1).wait(5)
        self.service.channel.close()
