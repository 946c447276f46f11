"""The PostgreSQL wire protocol (version 3) on asyncio: what psql, pgJDBC, Npgsql and psycopg speak.

This is the protocol layer only: startup, TLS, SCRAM-SHA-256 password authentication, the simple
and the extended query protocol (Parse/Bind/Describe/Execute/Sync/Close/Flush), text and binary
values, errors. What a statement means is the `Backend`'s business (`pg_endpoint.py`).

Written here rather than taken from PyPI, after trying what PyPI holds: `riffq` (Rust's pgwire
with a DataFusion catalog) ships no wheel for this Python and its source build fetches a Git
dependency, so it does not install here; `buenavista` (0.5, last release 2024) answers TLS
requests with "no", offers only MD5 against a per-user password table, runs one thread per
connection and logs the client's startup parameters. The protocol's framing is small (a type
byte and a length); what must be right is covered by the tests with real clients (psql, pgJDBC,
psycopg): SCRAM, the extended protocol's error recovery (skip to Sync), portals suspended at a
row count, and binary results for the types pgJDBC asks binary for once it prepares a statement.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import decimal
import hashlib
import hmac
import logging
import secrets
import ssl
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST, PROTOCOL_3 = 80877103, 80877104, 80877102, 196608
SCRAM_ITERATIONS = 4096
MAX_MESSAGE = 16 * 1024 * 1024
# Before a client has logged in: PostgreSQL's own limits (authentication_timeout, and a password
# message of at most a few kilobytes; SCRAM's are under 1 KB).
AUTH_TIMEOUT_SECONDS = 60.0
AUTH_MAX_MESSAGE = 64 * 1024
# Connections at once, logged in or not; more are told "too many clients" and closed (53300).
MAX_CONNECTIONS = 100

# type OIDs
BOOL, BYTEA, INT8, INT2, INT4, TEXT, OID, FLOAT4, FLOAT8, VARCHAR = 16, 17, 20, 21, 23, 25, 26, 700, 701, 1043
DATE, TIMESTAMP, TIMESTAMPTZ, NUMERIC, UNKNOWN, JSON = 1082, 1114, 1184, 1700, 705, 114
TYPE_SIZES = {BOOL: 1, INT8: 8, INT2: 2, INT4: 4, OID: 4, FLOAT4: 4, FLOAT8: 8, DATE: 4, TIMESTAMP: 8,
              TIMESTAMPTZ: 8}
PG_EPOCH = dt.date(2000, 1, 1)
PG_EPOCH_TS = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class PgError(Exception):
    """An error the client is shown: a SQLSTATE and a message (never the statement's values)."""

    def __init__(self, message: str, sqlstate: str = "XX000", severity: str = "ERROR") -> None:
        super().__init__(message)
        self.sqlstate, self.severity = sqlstate, severity


@dataclass(frozen=True)
class Column:
    name: str
    oid: int
    typmod: int = -1


@dataclass
class Result:
    """A statement's answer: `columns` None for a command (SET, BEGIN), else rows of tuples."""

    tag: str
    columns: list[Column] | None = None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    notice: str | None = None


class Statement(Protocol):
    """A parsed statement: its parameter types (0 = unspecified)."""

    param_oids: list[int]


class Backend(Protocol):
    def prepare(self, sql: str, param_oids: Sequence[int]) -> Any: ...  # a Statement
    async def describe(self, statement: Any) -> list[Column] | None: ...
    async def run(self, statement: Any, values: Sequence[Any]) -> Result: ...


# -- values -----------------------------------------------------------------------------------

def _numeric_text(value: decimal.Decimal) -> str:
    if value.is_nan():
        return "NaN"
    return format(value, "f")


def text_value(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, decimal.Decimal):
        return _numeric_text(value).encode()
    if isinstance(value, float):
        if value != value:
            return b"NaN"
        if value in (float("inf"), float("-inf")):
            return b"Infinity" if value > 0 else b"-Infinity"
        return repr(value).encode()
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ").encode()
    if isinstance(value, dt.date):
        return value.isoformat().encode()
    if isinstance(value, bytes):
        return b"\\x" + value.hex().encode()
    return str(value).encode()


def _numeric_binary(value: decimal.Decimal) -> bytes:
    if value.is_nan():
        return struct.pack("!hhhh", 0, 0, 0xC000, 0)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(-exponent, 0)
    text = "".join(map(str, digits)) + "0" * max(exponent, 0)
    integer, fraction = (text[:len(text) - scale] if scale else text), (text[len(text) - scale:] if scale else "")
    integer = integer.lstrip("0")
    integer = "0" * (-len(integer) % 4) + integer
    fraction = fraction + "0" * (-len(fraction) % 4)
    groups = [int(integer[i:i + 4]) for i in range(0, len(integer), 4)]
    weight = len(groups) - 1
    groups += [int(fraction[i:i + 4]) for i in range(0, len(fraction), 4)]
    while groups and groups[0] == 0:  # leading zero groups move the weight down
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    return struct.pack(f"!hhhh{len(groups)}h", len(groups), weight, 0x4000 if sign else 0, scale, *groups)


def binary_value(value: Any, oid: int) -> bytes:
    """The binary form of `value` as type `oid`, for the types pgJDBC and psycopg ask binary for."""
    if oid == BOOL:
        return b"\x01" if value else b"\x00"
    if oid == INT2:
        return struct.pack("!h", value)
    if oid in (INT4, OID):
        return struct.pack("!i", value)
    if oid == INT8:
        return struct.pack("!q", value)
    if oid == FLOAT4:
        return struct.pack("!f", value)
    if oid == FLOAT8:
        return struct.pack("!d", value)
    if oid == NUMERIC:
        return _numeric_binary(decimal.Decimal(value))
    if oid == DATE:
        return struct.pack("!i", (value - PG_EPOCH).days)
    if oid in (TIMESTAMP, TIMESTAMPTZ):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        delta = moment - PG_EPOCH_TS
        return struct.pack("!q", (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if oid == BYTEA:
        return bytes(value)
    if oid in (TEXT, VARCHAR, UNKNOWN, JSON):
        return text_value(value)
    raise PgError(f"binary results of type {oid} are not supported: ask for text", "0A000")


def decode_parameter(raw: bytes, oid: int, binary: bool) -> Any:
    """A bound parameter as a Python value: int, float, Decimal, bool, date, datetime or str."""
    if not binary:
        text = raw.decode()
        try:
            if oid in (INT2, INT4, INT8, OID):
                return int(text)
            if oid in (FLOAT4, FLOAT8):
                return float(text)
            if oid == NUMERIC:
                return decimal.Decimal(text)
            if oid == BOOL:
                return text.lower() in ("t", "true", "1", "on", "yes", "y")
        except (ValueError, decimal.InvalidOperation):
            raise PgError(f"invalid input for a parameter of type {oid}", "22P02") from None
        return text
    try:
        if oid == INT2:
            return struct.unpack("!h", raw)[0]
        if oid in (INT4, OID):
            return struct.unpack("!i", raw)[0]
        if oid == INT8:
            return struct.unpack("!q", raw)[0]
        if oid == FLOAT4:
            return struct.unpack("!f", raw)[0]
        if oid == FLOAT8:
            return struct.unpack("!d", raw)[0]
        if oid == BOOL:
            return raw != b"\x00"
        if oid == DATE:
            return PG_EPOCH + dt.timedelta(days=struct.unpack("!i", raw)[0])
        if oid in (TIMESTAMP, TIMESTAMPTZ):
            moment = PG_EPOCH_TS + dt.timedelta(microseconds=struct.unpack("!q", raw)[0])
            return moment if oid == TIMESTAMPTZ else moment.replace(tzinfo=None)
        if oid == NUMERIC:
            count, weight, sign, scale = struct.unpack("!hhhh", raw[:8])
            groups = struct.unpack(f"!{count}h", raw[8:8 + 2 * count])
            number = sum(decimal.Decimal(g) * decimal.Decimal(10000) ** (weight - i) for i, g in enumerate(groups))
            number = -number if sign == 0x4000 else number
            return number.quantize(decimal.Decimal(1).scaleb(-scale)) if scale else number
        if oid in (TEXT, VARCHAR, UNKNOWN, 0, JSON):
            return raw.decode()
    except (struct.error, UnicodeDecodeError):
        raise PgError(f"invalid binary parameter of type {oid}", "22P03") from None
    raise PgError(f"binary parameters of type {oid} are not supported: send it as text", "0A000")


# -- messages ---------------------------------------------------------------------------------

def _message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def _cstr(text: str) -> bytes:
    return text.encode() + b"\x00"


def _error(error: PgError) -> bytes:
    fields = (b"S" + _cstr(error.severity) + b"V" + _cstr(error.severity) + b"C" + _cstr(error.sqlstate)
              + b"M" + _cstr(str(error)) + b"\x00")
    return _message(b"E", fields)


def _notice(text: str) -> bytes:
    return _message(b"N", b"SNOTICE\x00VNOTICE\x00C01000\x00M" + _cstr(text) + b"\x00")


def _row_description(columns: Sequence[Column], formats: Sequence[int]) -> bytes:
    parts = [struct.pack("!h", len(columns))]
    for i, column in enumerate(columns):
        parts.append(_cstr(column.name) + struct.pack("!ihihih", 0, 0, column.oid, TYPE_SIZES.get(column.oid, -1),
                                                      column.typmod, _format(formats, i)))
    return _message(b"T", b"".join(parts))


def _format(formats: Sequence[int], i: int) -> int:
    if not formats:
        return 0
    return formats[0] if len(formats) == 1 else formats[i]


def _data_row(row: tuple[Any, ...], columns: Sequence[Column], formats: Sequence[int]) -> bytes:
    parts = [struct.pack("!h", len(row))]
    for i, value in enumerate(row):
        if value is None:
            parts.append(b"\xff\xff\xff\xff")
            continue
        data = binary_value(value, columns[i].oid) if _format(formats, i) else text_value(value)
        parts.append(struct.pack("!i", len(data)) + data)
    return _message(b"D", b"".join(parts))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def cstr(self) -> str:
        end = self.data.index(b"\x00", self.at)
        text = self.data[self.at:end].decode()
        self.at = end + 1
        return text

    def int16(self) -> int:
        (value,) = struct.unpack_from("!h", self.data, self.at)
        self.at += 2
        return int(value)

    def int32(self) -> int:
        (value,) = struct.unpack_from("!i", self.data, self.at)
        self.at += 4
        return int(value)

    def take(self, n: int) -> bytes:
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk


# -- authentication ---------------------------------------------------------------------------

class ScramVerifier:
    """SCRAM-SHA-256 (RFC 5802/7677) against a set of keys, any of which is a valid password.

    Each key's salted password is derived once per process (one random salt), so a login costs a
    few HMACs; every key is tried, so the time taken does not say which one matched."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one API key is needed")
        self.salt = secrets.token_bytes(16)
        self._salted = [hashlib.pbkdf2_hmac("sha256", k.encode(), self.salt, SCRAM_ITERATIONS) for k in keys]

    def server_first(self, client_first: str) -> tuple[str, str, str]:
        """(server-first message, client-first-bare, combined nonce); PgError for a malformed one."""
        if client_first.startswith("p="):
            raise PgError("channel binding is not supported: use sslmode without channel_binding=require", "28000")
        try:
            _, _, bare = client_first.split(",", 2)
            attributes = dict(part.split("=", 1) for part in bare.split(","))
            nonce = attributes["r"] + base64.b64encode(secrets.token_bytes(18)).decode()
        except (ValueError, KeyError):
            raise PgError("malformed SCRAM message", "08P01") from None
        salt = base64.b64encode(self.salt).decode()
        return f"r={nonce},s={salt},i={SCRAM_ITERATIONS}", bare, nonce

    def verify(self, client_bare: str, server_first: str, nonce: str, client_final: str) -> str | None:
        """The server-final message if the proof is of one of the keys, else None."""
        without_proof, _, proof_part = client_final.rpartition(",p=")
        attributes = dict(part.split("=", 1) for part in without_proof.split(",") if "=" in part)
        if attributes.get("r") != nonce:
            return None
        try:
            proof = base64.b64decode(proof_part)
        except ValueError:
            return None
        message = f"{client_bare},{server_first},{without_proof}".encode()
        matched = None
        for salted in self._salted:
            client_key = hmac.digest(salted, b"Client Key", "sha256")
            stored = hashlib.sha256(client_key).digest()
            signature = hmac.digest(stored, message, "sha256")
            recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=False)) if len(proof) == 32 else b""
            if hmac.compare_digest(hashlib.sha256(recovered).digest(), stored) and matched is None:
                matched = salted
        if matched is None:
            return None
        server_key = hmac.digest(matched, b"Server Key", "sha256")
        return "v=" + base64.b64encode(hmac.digest(server_key, message, "sha256")).decode()


# -- a connection -----------------------------------------------------------------------------

@dataclass
class _Portal:
    statement: Statement
    values: list[Any]
    formats: list[int]
    result: Result | None = None
    sent: int = 0


SERVER_PARAMETERS = {
    "server_version": "14.0", "server_encoding": "UTF8", "client_encoding": "UTF8", "DateStyle": "ISO, MDY",
    "TimeZone": "UTC", "integer_datetimes": "on", "standard_conforming_strings": "on", "IntervalStyle": "postgres",
    "is_superuser": "off", "default_transaction_read_only": "on",
}


class Connection:
    """One client: startup and authentication, then messages until it leaves."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, backend: Backend,
                 scram: ScramVerifier, tls: ssl.SSLContext | None, database: str) -> None:
        self.reader, self.writer, self.backend = reader, writer, backend
        self.scram, self.tls, self.database = scram, tls, database
        self.statements: dict[str, Statement] = {}
        self.portals: dict[str, _Portal] = {}
        self.status = b"I"  # transaction status: idle, in a transaction (T) or a failed one (E)
        self.out: list[bytes] = []
        self.gone = asyncio.Event()  # the client closed the connection

    async def _read_startup(self) -> bytes:
        (length,) = struct.unpack("!i", await self.reader.readexactly(4))
        if not 8 <= length <= 10_000:
            raise PgError("invalid startup packet length", "08P01")
        return await self.reader.readexactly(length - 4)

    async def _read(self, most: int = MAX_MESSAGE) -> tuple[bytes, bytes]:
        head = await self.reader.readexactly(5)
        kind, (length,) = head[:1], struct.unpack("!i", head[1:])
        if not 4 <= length <= most:
            raise PgError("invalid message length", "08P01")
        return kind, await self.reader.readexactly(length - 4)

    async def _flush(self) -> None:
        if self.out:
            self.writer.write(b"".join(self.out))
            self.out.clear()
        await self.writer.drain()

    async def _fatal(self, error: PgError) -> None:
        self.out.append(_error(PgError(str(error), error.sqlstate, "FATAL")))
        await self._flush()

    async def serve(self) -> None:
        try:
            try:
                async with asyncio.timeout(AUTH_TIMEOUT_SECONDS):
                    started = await self._startup()
            except TimeoutError:
                raise PgError("canceling authentication due to timeout", "08006") from None
            if started:
                await self._loop()
        except PgError as exc:
            await self._fatal(exc)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            self.writer.close()

    async def _startup(self) -> bool:
        encrypted = False
        while True:
            body = await self._read_startup()
            (code,) = struct.unpack("!i", body[:4])
            if code == SSL_REQUEST:
                if self.tls is None or encrypted:
                    self.writer.write(b"N")
                    continue
                self.writer.write(b"S")
                await self.writer.drain()
                await self.writer.start_tls(self.tls)
                encrypted = True
                continue
            if code == GSSENC_REQUEST:
                self.writer.write(b"N")
                continue
            if code == CANCEL_REQUEST:
                return False  # queries end at the time limit; a cancel changes nothing
            if code >> 16 != 3:
                raise PgError("unsupported frontend protocol: version 3 is served", "0A000")
            break
        if self.tls is not None and not encrypted:
            raise PgError("this server accepts TLS connections only: connect with sslmode=require", "28000")
        items = body[4:].split(b"\x00")
        params = {items[i].decode(errors="replace"): items[i + 1].decode(errors="replace")
                  for i in range(0, len(items) - 1, 2) if items[i]}
        database = params.get("database") or params.get("user", "")
        if database != self.database:
            raise PgError(f'database "{database}" does not exist: connect to "{self.database}"', "3D000")
        await self._authenticate()
        parameters = {**SERVER_PARAMETERS, "application_name": params.get("application_name", ""),
                      "session_authorization": params.get("user", "")}
        for name, value in parameters.items():
            self.out.append(_message(b"S", _cstr(name) + _cstr(value)))
        self.out.append(_message(b"K", struct.pack("!ii", secrets.randbits(31), secrets.randbits(31))))
        self.out.append(_message(b"Z", self.status))
        await self._flush()
        return True

    async def _authenticate(self) -> None:
        refused = PgError("password authentication failed: the password is one of LAKEHOUSE_API_KEYS", "28P01",
                          "FATAL")
        self.out.append(_message(b"R", struct.pack("!i", 10) + _cstr("SCRAM-SHA-256") + b"\x00"))
        await self._flush()
        kind, body = await self._read(AUTH_MAX_MESSAGE)
        if kind != b"p":
            raise refused
        message = _Reader(body)
        if message.cstr() != "SCRAM-SHA-256":
            raise PgError("only SCRAM-SHA-256 password authentication is offered", "28000")
        size = message.int32()
        client_first = message.take(size).decode(errors="replace")
        server_first, bare, nonce = self.scram.server_first(client_first)
        self.out.append(_message(b"R", struct.pack("!i", 11) + server_first.encode()))
        await self._flush()
        kind, body = await self._read(AUTH_MAX_MESSAGE)
        final = self.scram.verify(bare, server_first, nonce, body.decode(errors="replace")) if kind == b"p" else None
        if final is None:
            log.info("pg endpoint: password not accepted")  # never the user's key
            raise refused
        self.out.append(_message(b"R", struct.pack("!i", 12) + final.encode()))
        self.out.append(_message(b"R", struct.pack("!i", 0)))

    async def _read_ahead(self, inbox: asyncio.Queue[tuple[bytes, bytes] | BaseException]) -> None:
        """Messages into `inbox` as they come, so that a client that leaves is seen while its query
        runs; then what ended the stream (EOF, a reset, a malformed message)."""
        try:
            while True:
                await inbox.put(await self._read())
        except Exception as exc:  # handed to the loop, in order
            if not isinstance(exc, PgError):
                self.gone.set()
            await inbox.put(exc)

    async def _unless_gone(self, work: Any) -> None:
        """Await `work`; cancel it if the client goes meanwhile (its query's slot is freed)."""
        task = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the connection itself is being cancelled (the server stops)
            task.cancel()
            raise
        finally:
            gone.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise ConnectionResetError("the client went away while its statement ran")
        task.result()

    async def _loop(self) -> None:
        inbox: asyncio.Queue[tuple[bytes, bytes] | BaseException] = asyncio.Queue(maxsize=64)
        reading = asyncio.ensure_future(self._read_ahead(inbox))
        try:
            await self._messages(inbox)
        finally:
            reading.cancel()

    async def _messages(self, inbox: asyncio.Queue[tuple[bytes, bytes] | BaseException]) -> None:
        failed = False  # an extended-protocol error: skip messages until Sync
        while True:
            item = await inbox.get()
            if isinstance(item, BaseException):
                raise item
            kind, body = item
            if kind == b"X":
                return
            if kind == b"Q":
                await self._unless_gone(self._simple(body[:-1].decode(errors="replace")))
                continue
            if kind == b"S":
                failed = False
                self.portals.pop("", None)
                self.out.append(_message(b"Z", self.status))
                await self._flush()
                continue
            if kind == b"H":
                await self._flush()
                continue
            if failed:
                continue
            try:
                if kind in (b"D", b"E"):  # the ones that may run a query
                    await self._unless_gone(self._extended(kind, _Reader(body)))
                else:
                    await self._extended(kind, _Reader(body))
            except PgError as exc:
                failed = True
                self._failed()
                self.out.append(_error(exc))

    def _failed(self) -> None:
        if self.status == b"T":
            self.status = b"E"

    def _track(self, tag: str) -> None:
        if tag in ("BEGIN", "START TRANSACTION"):
            self.status = b"T"
        elif tag in ("COMMIT", "ROLLBACK"):
            self.status = b"I"

    async def _simple(self, sql: str) -> None:
        statements = split_statements(sql)
        if not statements:
            self.out.append(_message(b"I"))
        for text in statements:
            try:
                if self.status == b"E" and not text.strip().upper().startswith(("ROLLBACK", "ABORT", "COMMIT")):
                    raise PgError("current transaction is aborted, commands ignored until end of transaction block",
                                  "25P02")
                statement = self.backend.prepare(text, [])
                if statement.param_oids:
                    raise PgError("there is no parameter $1", "42P02")
                result = await self.backend.run(statement, [])
            except PgError as exc:
                self._failed()
                self.out.append(_error(exc))
                break
            if result.notice:
                self.out.append(_notice(result.notice))
            if result.columns is not None:
                self.out.append(_row_description(result.columns, []))
                self.out.extend(_data_row(row, result.columns, []) for row in result.rows)
            self._track(result.tag)
            self.out.append(_message(b"C", _cstr(result.tag)))
        self.out.append(_message(b"Z", self.status))
        await self._flush()

    async def _extended(self, kind: bytes, message: _Reader) -> None:
        if kind == b"P":
            name, sql = message.cstr(), message.cstr()
            oids = [message.int32() for _ in range(message.int16())]
            if self.status == b"E":
                raise PgError("current transaction is aborted, commands ignored until end of transaction block",
                              "25P02")
            self.statements[name] = self.backend.prepare(sql, oids)
            self.out.append(_message(b"1"))
        elif kind == b"B":
            portal, name = message.cstr(), message.cstr()
            statement = self._statement(name)
            formats = [message.int16() for _ in range(message.int16())]
            values: list[Any] = []
            oids = statement.param_oids
            count = message.int16()
            if count != len(oids):
                raise PgError(f"bind message supplies {count} parameters, but the statement needs {len(oids)}",
                              "08P01")
            for i in range(count):
                size = message.int32()
                values.append(None if size < 0 else decode_parameter(message.take(size), oids[i],
                                                                     bool(_format(formats, i))))
            results = [message.int16() for _ in range(message.int16())]
            self.portals[portal] = _Portal(statement, values, results)
            self.out.append(_message(b"2"))
        elif kind == b"D":
            what, name = message.take(1), message.cstr()
            if what == b"S":
                statement = self._statement(name)
                oids = [oid or TEXT for oid in statement.param_oids]
                self.out.append(_message(b"t", struct.pack(f"!h{len(oids)}i", len(oids), *oids)))
                columns = await self.backend.describe(statement)
                self.out.append(_row_description(columns, []) if columns is not None else _message(b"n"))
            else:
                target = self._portal(name)
                result = await self._result(target)
                self.out.append(_row_description(result.columns, target.formats) if result.columns is not None
                                else _message(b"n"))
        elif kind == b"E":
            target = self._portal(message.cstr())
            limit = message.int32()
            result = await self._result(target)
            if result.notice and target.sent == 0:
                self.out.append(_notice(result.notice))
            if result.columns is None:
                self._track(result.tag)
                self.out.append(_message(b"C", _cstr(result.tag)))
                return
            end = len(result.rows) if limit <= 0 else min(len(result.rows), target.sent + limit)
            self.out.extend(_data_row(row, result.columns, target.formats) for row in result.rows[target.sent:end])
            target.sent = end
            if end < len(result.rows):
                self.out.append(_message(b"s"))
            else:
                self.out.append(_message(b"C", _cstr(result.tag)))
        elif kind == b"C":
            what, name = message.take(1), message.cstr()
            (self.statements if what == b"S" else self.portals).pop(name, None)
            self.out.append(_message(b"3"))
        elif kind in (b"d", b"c", b"f"):
            raise PgError("COPY is not supported", "0A000")
        elif kind == b"F":
            raise PgError("function calls are not supported", "0A000")
        else:
            raise PgError(f"unknown message type {kind!r}", "08P01")

    def _statement(self, name: str) -> Statement:
        statement = self.statements.get(name)
        if statement is None:
            raise PgError(f'prepared statement "{name}" does not exist', "26000")
        return statement

    def _portal(self, name: str) -> _Portal:
        portal = self.portals.get(name)
        if portal is None:
            raise PgError(f'portal "{name}" does not exist', "34000")
        return portal

    async def _result(self, portal: _Portal) -> Result:
        if portal.result is None:
            portal.result = await self.backend.run(portal.statement, portal.values)
        return portal.result


def split_statements(sql: str) -> list[str]:
    """`sql` cut at its top-level semicolons (quotes, dollar quotes and comments respected);
    empty statements are left out."""
    statements, start, i, n = [], 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            end = sql.find(c, i + 1)
            while end != -1 and end + 1 < n and sql[end + 1] == c:
                end = sql.find(c, end + 2)
            i = n if end == -1 else end + 1
            continue
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        if c == "$":
            end = sql.find("$", i + 1)
            tag = sql[i:end + 1] if end != -1 else ""
            if tag and (tag == "$$" or tag[1:-1].isidentifier()):
                close = sql.find(tag, end + 1)
                i = n if close == -1 else close + len(tag)
                continue
        if c == ";":
            statements.append(sql[start:i])
            start = i + 1
        i += 1
    statements.append(sql[start:])
    return [s for s in statements if s.strip()]


class PgServer:
    """Listens on `host:port` and serves each connection with `backend`."""

    def __init__(self, backend: Backend, keys: Sequence[str], tls: ssl.SSLContext | None = None,
                 database: str = "lakehouse", on_error: Callable[[BaseException], None] | None = None) -> None:
        self.backend, self.tls, self.database = backend, tls, database
        self.scram = ScramVerifier(keys)
        self.server: asyncio.AbstractServer | None = None
        self.connections = 0

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= MAX_CONNECTIONS:
            log.warning("pg endpoint: %d connections already: one more refused", self.connections)
            writer.write(_error(PgError("sorry, too many clients already", "53300", "FATAL")))
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
            writer.close()
            return
        self.connections += 1
        try:
            await Connection(reader, writer, self.backend, self.scram, self.tls, self.database).serve()
        except Exception:  # one client's failure never ends the server
            log.warning("pg endpoint: a connection failed", exc_info=log.isEnabledFor(logging.DEBUG))
        finally:
            self.connections -= 1

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._client, host, port, reuse_address=True)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
