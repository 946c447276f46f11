"""Lake and landing files, on a local disk or on S3-compatible object storage: the one way code
touches them.

A `Location` is a URI (a local path, or `s3://bucket/prefix`) and the file system that reaches it.
It joins (`/`), lists (with sizes and modification times, for the landing ledger), tells whether
something exists, reads and writes bytes, writes small files whole (a reader never sees half of
one), and deletes trees. Everything that touches a Delta table or a landed file goes through it;
local-only things (Data Docs, the app's SQLite file, logs, pid files) stay plain paths.

Built on `pyarrow.fs`: it is already here (pyarrow reads and writes every Parquet part the driver
handles, and takes the same file system objects), it speaks local disks and S3 through one API,
gives nanosecond modification times on local disks (the ledger compares them exactly), and its file
systems pickle, so worker processes that parse landed files get them as they are. What it lacks is
conditional writes (If-None-Match / If-Match): the lake lock on object storage (`lakehouse.locking`)
uses `obstore` for those, the Python face of the Rust `object_store` crate that delta-rs and Sail
themselves write S3 with, configured from the same settings.

Endpoint and credentials come only from the standard variables every S3 client reads
(`AWS_ENDPOINT_URL` or `AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_REGION` or `AWS_DEFAULT_REGION`, `AWS_ALLOW_HTTP`,
`AWS_VIRTUAL_HOSTED_STYLE_REQUEST`). `S3Settings` turns them into what each consumer needs: a
pyarrow file system, delta-rs `storage_options`, Apache Spark's S3A settings; its `describe()`
names the endpoint and never a key.
"""

from __future__ import annotations

import builtins
import contextlib
import fnmatch
import os
import posixpath
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

S3_SCHEMES = ("s3", "s3a")


class StorageError(RuntimeError):
    """Object storage cannot be reached or refused a request; the one-line message names the
    endpoint and the bucket, never a credential."""


# What a lake or landing URI may hold, beyond its scheme (docs/object_storage.md, "Which URIs").
# Measured on Sail 0.7.2: a space, a non-ASCII letter, `"`, `#`, `%`, `` ` ``, `\` or `~` in a local
# path is written percent-encoded (`a b` becomes a folder `a%20b`) while delta-rs writes the path
# as given, so one lake is split between two folders; `'` breaks `LOCATION '...'`, `?` cuts the
# path short, `[`, `{` and `*` are read as glob patterns. On S3 the same characters are escaped or
# cut by URL parsers (a `#` starts a fragment, `%XX` is decoded by some clients and not others).
# So both take a conservative set that every engine, delta-rs and pyarrow read alike.
_SAFE_PATH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-=/")
_SAFE_BUCKET = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
SAFE_PATH_TEXT = "letters, digits and . _ - = /"


def _character(text: str, at: int) -> str:
    """The character of `text` at `at`, named for a one-line message."""
    char = text[at]
    if char == " ":
        return "a space"
    if char == "%" and len(text) > at + 2 and all(c in "0123456789abcdefABCDEF" for c in text[at + 1:at + 3]):
        return f"the percent-escape '{text[at:at + 3]}'"
    if not char.isprintable():
        return f"the control character U+{ord(char):04X}"
    if not char.isascii():
        return f"the non-ASCII character '{char}' (U+{ord(char):04X})"
    if char in "'\"":
        return f"a quote ({char})"
    return f"the character '{char}'"


def uri_problem(text: str) -> str | None:
    """Why `text` cannot be a lake or landing location, in words that never repeat a credential;
    None when it can: a local path, or `s3://bucket/prefix` (`s3a://` too, any case), whose path
    holds only `SAFE_PATH_TEXT` and whose bucket is a plain S3 bucket name."""
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) or scheme.lower() == "file":
        path = rest if sep and scheme.lower() == "file" else text
        bad = next((i for i, c in enumerate(path) if c not in _SAFE_PATH and not (i == 0 and c == "~")), None)
        if bad is None:
            return None
        return (f"{_character(path, bad)} is not allowed in a local path (the engines and delta-rs do not all "
                f"read it as written); use {SAFE_PATH_TEXT}")
    if scheme.lower() not in S3_SCHEMES:
        return f"'{scheme}://' is not a scheme the lake takes: a local path or s3://bucket/prefix"
    if "@" in rest:  # user info: `s3://KEY:SECRET@bucket` (nothing of it is repeated here)
        return ("credentials do not belong in the URI: give them in AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (s3://bucket/prefix)")
    bucket, _, key = rest.partition("/")
    if not bucket:
        return "an S3 URI names a bucket (s3://bucket/prefix)"
    bad = next((i for i, c in enumerate(bucket) if c not in _SAFE_BUCKET), None)
    if bad is not None:
        return (f"{_character(bucket, bad)} is not allowed in an S3 bucket name: use lowercase letters, "
                "digits, '-' and '.'")
    if not 3 <= len(bucket) <= 63 or not (bucket[0] + bucket[-1]).isalnum():
        return ("an S3 bucket name has 3 to 63 characters and starts and ends with a lowercase letter or a "
                "digit")
    bad = next((i for i, c in enumerate(key) if c not in _SAFE_PATH), None)
    if bad is not None:
        return f"{_character(key, bad)} is not allowed in an S3 prefix: use {SAFE_PATH_TEXT}"
    if {".", ".."} & set(key.split("/")):
        return "an S3 prefix has no '.' or '..' part: S3 keys are not folders"
    return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class S3Settings:
    """Where S3 is and how to sign requests, from the standard AWS_* variables."""

    endpoint: str | None = None  # e.g. http://127.0.0.1:9000; None: AWS itself
    region: str = "us-east-1"
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    allow_http: bool = False
    virtual_hosted: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Settings:
        env = os.environ if environ is None else environ
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT") or None
        vhost = env.get("AWS_VIRTUAL_HOSTED_STYLE_REQUEST")
        return cls(
            endpoint=endpoint.rstrip("/") if endpoint else None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            allow_http=_truthy(env.get("AWS_ALLOW_HTTP")) or (endpoint or "").startswith("http://"),
            # A custom endpoint (s3proxy, MinIO) is reached path-style unless told otherwise.
            virtual_hosted=_truthy(vhost) if vhost is not None else endpoint is None,
        )

    def describe(self) -> str:
        """The endpoint, for messages (never a key)."""
        return self.endpoint or f"AWS S3 ({self.region})"

    def filesystem(self) -> pafs.FileSystem:
        """A pyarrow S3 file system for these settings."""
        if self.endpoint:
            # Recent AWS SDKs add checksums to every upload, which S3-compatible servers such as
            # s3proxy reject (XAmzContentSHA256Mismatch); ask for them only where S3 requires them.
            os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
            os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
        parsed = urlparse(self.endpoint) if self.endpoint else None
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            session_token=self.session_token,
            region=self.region,
            endpoint_override=parsed.netloc if parsed else None,
            scheme=parsed.scheme if parsed else "https",
            force_virtual_addressing=self.virtual_hosted and self.endpoint is not None,
            allow_bucket_creation=False,
            allow_bucket_deletion=False,
            check_directory_existence_before_creation=False,
            connect_timeout=5,
            request_timeout=60,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        )

    def storage_options(self) -> dict[str, str]:
        """delta-rs `storage_options` (object_store's AWS keys).

        `AWS_S3_ALLOW_UNSAFE_RENAME`: delta-rs commits to S3 without a locking provider. That is
        safe with one writer per lake, which the lake lock (`lakehouse.locking`) enforces;
        docs/object_storage.md says what is safe with several."""
        options = {"AWS_REGION": self.region, "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
        if self.endpoint:
            options["AWS_ENDPOINT_URL"] = self.endpoint
        if self.allow_http:
            options["AWS_ALLOW_HTTP"] = "true"
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "true" if self.virtual_hosted else "false"
        for key, value in (("AWS_ACCESS_KEY_ID", self.access_key), ("AWS_SECRET_ACCESS_KEY", self.secret_key),
                           ("AWS_SESSION_TOKEN", self.session_token)):
            if value:
                options[key] = value
        return options

    def hadoop_conf(self) -> dict[str, str]:
        """Apache Spark settings for S3A, reaching `s3://` and `s3a://` alike (the lake's URIs are
        `s3://`, as Sail and delta-rs write them; Delta picks its S3 log store for both schemes)."""
        conf = {
            "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "spark.hadoop.fs.s3a.path.style.access": "false" if self.virtual_hosted else "true",
            "spark.hadoop.fs.s3a.endpoint.region": self.region,
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false" if self.allow_http else "true",
            "spark.hadoop.fs.s3a.attempts.maximum": "3",
            "spark.hadoop.fs.s3a.retry.limit": "3",
        }
        if self.endpoint:
            conf["spark.hadoop.fs.s3a.endpoint"] = self.endpoint
        if self.access_key and self.secret_key:
            conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
                "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider" if self.session_token
                else "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider")
            conf["spark.hadoop.fs.s3a.access.key"] = self.access_key
            conf["spark.hadoop.fs.s3a.secret.key"] = self.secret_key
            if self.session_token:
                conf["spark.hadoop.fs.s3a.session.token"] = self.session_token
        return conf

    def engine_env(self) -> dict[str, str]:
        """The variables an engine that reads them itself (Sail) needs to reach S3 as this layer
        does: the region (AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1) and, for an
        `http://` endpoint, AWS_ALLOW_HTTP; the endpoint as AWS_ENDPOINT_URL, which is the one Sail
        reads (this layer prefers AWS_ENDPOINT_URL_S3 when it is set). Never a credential."""
        env = {"AWS_REGION": self.region}
        if self.endpoint:
            env["AWS_ENDPOINT_URL"] = self.endpoint
        if self.allow_http:
            env["AWS_ALLOW_HTTP"] = "true"
        return env

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown."""
        return tuple(v for v in (self.secret_key, self.session_token) if v)


@dataclass(frozen=True)
class Entry:
    """One listed file or folder."""

    location: Location
    is_dir: bool
    size: int | None
    mtime_ns: int | None

    @property
    def name(self) -> str:
        return self.location.name


_FILESYSTEMS: dict[S3Settings, pafs.FileSystem] = {}
_BUCKETS_FOUND: set[tuple[S3Settings, str | None]] = set()  # buckets this process has seen exist


def _s3_filesystem(settings: S3Settings) -> pafs.FileSystem:
    fs = _FILESYSTEMS.get(settings)
    if fs is None:
        fs = _FILESYSTEMS[settings] = settings.filesystem()
    return fs


class Location:
    """A local path or an `s3://bucket/key` URI, with the file system that reaches it.

    `str()` gives the URI every engine and delta-rs take (a local path stays the path as given)."""

    __slots__ = ("_uri", "_path", "_s3")

    def __init__(self, uri: str | os.PathLike[str], s3: S3Settings | None = None) -> None:
        text = os.fspath(uri)
        parsed = urlparse(text)
        if parsed.scheme in S3_SCHEMES:
            if not parsed.netloc:
                raise ValueError(f"{text}: an S3 location names a bucket (s3://bucket/prefix)")
            key = posixpath.normpath(parsed.path).strip("/") if parsed.path.strip("/") else ""
            self._path = f"{parsed.netloc}/{key}" if key else parsed.netloc
            self._uri = f"s3://{self._path}"
            self._s3: S3Settings | None = s3 or S3Settings.from_env()
        elif parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # 1: a Windows drive letter
            local = text.removeprefix("file://") if parsed.scheme == "file" else text
            self._uri = local
            self._path = os.path.abspath(local)
            self._s3 = None
        else:
            raise ValueError(f"{text}: not a local path or an s3:// URI")

    @classmethod
    def of(cls, where: Location | str | os.PathLike[str]) -> Location:
        return where if isinstance(where, Location) else cls(where)

    def _child(self, uri: str, path: str) -> Location:
        child = object.__new__(Location)
        child._uri, child._path, child._s3 = uri, path, self._s3
        return child

    # -- naming ---------------------------------------------------------------------------
    def __str__(self) -> str:
        return self._uri

    def __repr__(self) -> str:
        return f"Location({self._uri!r})"

    def __fspath__(self) -> str:
        if self._s3 is not None:
            raise TypeError(f"{self._uri} is on object storage, not a local path")
        return self._uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and self._path == other._path and self.is_local == other.is_local

    def __hash__(self) -> int:
        return hash((self._path, self.is_local))

    def __truediv__(self, name: str) -> Location:
        name = str(name).strip("/")
        if self._s3 is None:
            return self._child(os.path.join(self._uri, name), os.path.join(self._path, name))
        return self._child(f"{self._uri}/{name}", f"{self._path}/{name}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Location, (self._uri, self._s3))

    @property
    def is_local(self) -> bool:
        return self._s3 is None

    @property
    def name(self) -> str:
        return posixpath.basename(self._path) if self._s3 else os.path.basename(self._path)

    @property
    def parent(self) -> Location:
        if self._s3 is None:
            return self._child(os.path.dirname(self._uri.rstrip("/")) or ".", os.path.dirname(self._path))
        path = posixpath.dirname(self._path) or self._path
        return self._child(f"s3://{path}", path)

    @property
    def bucket(self) -> str | None:
        return self._path.split("/", 1)[0] if self._s3 else None

    @property
    def fs(self) -> pafs.FileSystem:
        return pafs.LocalFileSystem() if self._s3 is None else _s3_filesystem(self._s3)

    @property
    def fs_path(self) -> str:
        """The path as `fs` takes it (`bucket/key` on S3)."""
        return self._path

    @property
    def local_path(self) -> Path:
        if self._s3 is not None:
            raise TypeError(f"{self._uri} is on object storage, not a local path")
        return Path(self._uri)

    @property
    def storage_options(self) -> dict[str, str] | None:
        """delta-rs `storage_options` for a table here (None on a local disk)."""
        return None if self._s3 is None else self._s3.storage_options()

    @property
    def s3(self) -> S3Settings | None:
        return self._s3

    def where(self) -> str:
        """Endpoint and bucket, for one-line errors (never a key)."""
        if self._s3 is None:
            return self._uri
        return f"{self._uri} (endpoint {self._s3.describe()}, bucket {self.bucket})"

    def relative_to(self, root: Location | str | os.PathLike[str]) -> str:
        """This location's path under `root`, with `/` between parts."""
        base = Location.of(root)._path.rstrip("/" if self._s3 else os.sep)
        if self._path == base:
            return ""
        prefix = base + ("/" if self._s3 else os.sep)
        if not self._path.startswith(prefix):
            raise ValueError(f"{self} is not under {root}")
        return self._path[len(prefix):].replace(os.sep, "/")

    # -- questions ---------------------------------------------------------------------------
    def info(self) -> Entry:
        with self._errors():
            info = self.fs.get_file_info(self._path)
        return self._entry(self, info)

    def exists(self) -> bool:
        entry = self.info()
        return entry.is_dir or entry.size is not None

    def is_dir(self) -> bool:
        return self.info().is_dir

    def is_file(self) -> bool:
        entry = self.info()
        return not entry.is_dir and entry.size is not None

    def check(self) -> None:
        """Raise `StorageError` unless this location's bucket can be reached with the credentials
        given (a local folder always can)."""
        if self._s3 is None:
            return
        self._require_bucket(again=True)
        with self._errors():
            self.fs.get_file_info(pafs.FileSelector(self._path, allow_not_found=True))

    def _require_bucket(self, again: bool = False) -> None:
        """Raise `StorageError` when this location's bucket does not exist. A bucket found once is
        not asked about again in this process, unless `again`."""
        assert self._s3 is not None
        seen = (self._s3, self.bucket)
        if seen in _BUCKETS_FOUND and not again:
            return
        with self._errors():
            if self.fs.get_file_info(self.bucket or "").type == pafs.FileType.NotFound:
                raise OSError("the bucket does not exist")
        _BUCKETS_FOUND.add(seen)

    def list(self, recursive: bool = False) -> list[Entry]:
        """What is directly under this folder (everything below it with `recursive`), sorted by
        name; nothing when the folder does not exist. `StorageError` when its bucket does not."""
        if self._s3 is None:
            return self._list_local(recursive)
        selector = pafs.FileSelector(self._path, allow_not_found=True, recursive=recursive)
        with self._errors():
            infos = self.fs.get_file_info(selector)
        if not infos:  # an empty folder, or no bucket at all: never read a missing bucket as empty
            self._require_bucket()
        entries = []
        for info in infos:
            path = info.path.replace(os.sep, "/") if self._s3 else info.path
            relative = path[len(self._path):].lstrip("/" + os.sep)
            entries.append(self._entry(self / relative, info))
        return sorted(entries, key=lambda e: e.location._path)

    def _list_local(self, recursive: bool) -> builtins.list[Entry]:
        # os.scandir, not pyarrow: a broken link or a pipe is listed (as neither file nor folder)
        # for the landing's warnings, where pyarrow's listing leaves it out.
        entries = []
        try:
            with os.scandir(self._path) as found:
                items = list(found)
        except (FileNotFoundError, NotADirectoryError):
            return []
        for item in items:
            child = self / item.name
            try:
                stat = item.stat()  # follows links
            except OSError:
                entries.append(Entry(child, False, None, None))
                continue
            if item.is_dir():
                entries.append(Entry(child, True, None, None))
                if recursive:
                    entries += child._list_local(True)
            elif item.is_file():
                entries.append(Entry(child, False, stat.st_size, stat.st_mtime_ns))
            else:
                entries.append(Entry(child, False, None, None))
        return sorted(entries, key=lambda e: e.location._path)

    def names(self) -> builtins.list[str]:
        """The names directly under this folder, sorted (none when it does not exist). Locally one
        directory read, no stat per entry: a Delta log listing is asked for on every table check."""
        if self._s3 is None:
            try:
                return sorted(os.listdir(self._path))
            except (FileNotFoundError, NotADirectoryError):
                return []
        return [e.name for e in self.list()]

    def glob(self, pattern: str) -> builtins.list[Location]:
        """Files and folders matching `pattern` (`*`-style parts separated by `/`), sorted."""
        found = [self]
        for part in pattern.strip("/").split("/"):
            found = [e.location for parent in found for e in parent.list() if fnmatch.fnmatchcase(e.name, part)]
        return sorted(found, key=lambda loc: loc._path)

    @staticmethod
    def _entry(location: Location, info: pafs.FileInfo) -> Entry:
        if info.type == pafs.FileType.Directory:
            return Entry(location, True, None, None)
        if info.type == pafs.FileType.NotFound:
            return Entry(location, False, None, None)
        return Entry(location, False, info.size, info.mtime_ns)

    # -- bytes ---------------------------------------------------------------------------------
    def read_bytes(self, size: int | None = None) -> bytes:
        """The file's bytes (its first `size` bytes: a writer may be appending)."""
        if self._s3 is None:
            with open(self._path, "rb") as handle:
                return handle.read() if size is None else handle.read(size)
        with self._errors(), self.fs.open_input_file(self._path) as handle:
            return handle.read() if size is None else handle.read(size)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, content: bytes) -> None:
        """Replace the file with `content` in one step: a reader sees the old bytes or the new ones.

        Locally: written aside under a hidden temporary name (not `*.jsonl`/`*.csv`), then renamed.
        On S3 one PUT is atomic."""
        if self._s3 is None:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            tmp = os.path.join(os.path.dirname(self._path), f".{self.name}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                with open(tmp, "wb") as handle:
                    handle.write(content)
                os.replace(tmp, self._path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            return
        with self._errors(), self.fs.open_output_stream(self._path) as out:
            out.write(content)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def mkdir(self, parents: bool = True, exist_ok: bool = True) -> None:
        """Make the folder (object storage has none: nothing to do there)."""
        if self._s3 is None:
            Path(self._path).mkdir(parents=parents, exist_ok=exist_ok)

    def delete(self) -> None:
        """Remove one file (nothing if it is gone)."""
        with contextlib.suppress(FileNotFoundError), self._errors():
            self.fs.delete_file(self._path)

    def delete_tree(self) -> None:
        """Remove the folder and everything under it (nothing if it is gone)."""
        if self._s3 is not None:
            # One DELETE per object: pyarrow's bulk DeleteObjects is refused by S3-compatible
            # servers that do not implement its checksum headers (s3proxy: 501).
            for entry in self.list(recursive=True):
                if not entry.is_dir:
                    entry.location.delete()
        with contextlib.suppress(FileNotFoundError), self._errors():
            self.fs.delete_dir(self._path)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Object-storage failures as one `StorageError` naming the endpoint and bucket; local
        errors as they are."""
        if self._s3 is None:
            yield
            return
        try:
            yield
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageError(f"object storage {self.where()}: {_first_line(exc, self._s3)}") from None


def _first_line(exc: BaseException, s3: S3Settings | None) -> str:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    for secret in s3.secrets() if s3 is not None else ():
        text = text.replace(secret, "***")
    return text


def error_line(exc: BaseException, location: Location) -> str:
    """`exc` as one line of at most 300 characters for a log, with no credential of the store that
    reaches `location`."""
    return _first_line(exc, location.s3)


def delta_options(location: Location | str | os.PathLike[str]) -> dict[str, str] | None:
    """delta-rs `storage_options` for the table at `location` (None on a local disk)."""
    return Location.of(location).storage_options


def unreachable(*locations: Location) -> StorageError | None:
    """The first of `locations` on object storage that cannot be reached now, as the error that
    says so (None when all can): what a failed job is checked against, so that a store that went
    away is reported as such in one line rather than as whatever the engine made of it."""
    for location in locations:
        try:
            location.check()
        except StorageError as exc:
            return exc
    return None
