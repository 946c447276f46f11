"""A local S3 API server (s3proxy, buckets kept as folders on disk), run with the machine's Java
from the jar Maven fetched into `jvm/s3/target/jars`.

`start` writes the server's properties (mode 0600: they hold the secret), starts it in the
background (pid file and log in its folder) and waits until its own process answers on the port
(another process there, whatever it answers, is refused); `stop` stops it and waits.
Buckets, port and keys are kept in the folder, so a restart loses nothing and serves the same
credentials. The secret never goes to a log: it is in the properties file and `S3Server.env()`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse import daemons
from lakehouse.config import PROJECT_ROOT

log = logging.getLogger(__name__)
JARS = PROJECT_ROOT / "jvm" / "s3" / "target" / "jars"
MAIN = "org.gaul.s3proxy.Main"
REGION = "us-east-1"  # s3proxy signs with whatever region a client names; clients need one


class S3ServerError(daemons.DaemonError):
    """The server could not start (the message says why and where its log is)."""


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = REGION

    def env(self) -> dict[str, str]:
        """The variables S3 clients read (boto3, delta-rs, Sail's object_store, obstore) for this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        }

    def client(self, config: Any = None):  # noqa: ANN201 - botocore's client class is made at run time
        """A boto3 S3 client for this server (path-style addressing; `config`: another botocore
        `Config`). Endpoint and keys are its own whatever the environment says: no profile is
        read from AWS_PROFILE (a missing one would stop boto3), no session token from
        AWS_SESSION_TOKEN (the keys are given), no endpoint from AWS_ENDPOINT_URL_S3."""
        import boto3
        import botocore.session
        from botocore.config import Config as BotoConfig

        no_profile = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        return boto3.session.Session(botocore_session=no_profile).client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config or BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def create_bucket(self, name: str) -> None:
        """Create bucket `name`; one that exists already is left as it is."""
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            client.create_bucket(Bucket=name)


def own_environment(environ: Mapping[str, str], found: S3Server) -> tuple[dict[str, str], list[str]]:
    """`environ` for S3 clients that must reach `found` whatever the shell set: its variables, and
    no other AWS_* one (S3 clients read many: `AWS_ENDPOINT_URL_S3` wins over `AWS_ENDPOINT_URL`,
    `AWS_SESSION_TOKEN` is sent with the keys, `AWS_PROFILE` picks other settings). Also the
    names of `environ`'s AWS_* variables that were dropped or changed, sorted (never values)."""
    ours = found.env()
    replaced = sorted(k for k, v in environ.items() if k.startswith("AWS_") and ours.get(k) != v)
    return {**{k: v for k, v in environ.items() if not k.startswith("AWS_")}, **ours}, replaced


@dataclass(frozen=True)
class _Files:
    folder: Path

    @property
    def pid(self) -> Path:
        return self.folder / "s3.pid"

    @property
    def log(self) -> Path:
        return self.folder / "s3.log"

    @property
    def properties(self) -> Path:
        return self.folder / "s3proxy.properties"

    @property
    def port(self) -> Path:
        return self.folder / "port"


def _jar() -> Path:
    found = sorted(JARS.glob("s3proxy-*-jar-with-dependencies.jar"), key=lambda jar: jar.stat().st_mtime)
    if not found:
        raise S3ServerError(f"no s3proxy jar in {JARS}: run `make setup`")
    return found[-1]  # the one fetched last, should an older version still lie beside it


def _properties(files: _Files, port: int, access_key: str, secret_key: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\")

    return "\n".join(
        [
            f"s3proxy.endpoint=http://127.0.0.1:{port}",
            "s3proxy.authorization=aws-v2-or-v4",
            f"s3proxy.identity={escape(access_key)}",
            f"s3proxy.credential={escape(secret_key)}",
            "jclouds.provider=filesystem-nio2",
            f"jclouds.identity={escape(access_key)}",
            f"jclouds.credential={escape(secret_key)}",
            f"jclouds.filesystem.basedir={files.folder / 'buckets'}",
            "",
        ]
    )


def _remembered(files: _Files) -> tuple[str, str, str] | None:
    """Endpoint, access key and secret key of the server's properties (those it runs with, when
    it runs), or None."""
    if not files.properties.exists():
        return None
    values = dict(
        line.split("=", 1) for line in files.properties.read_text().splitlines() if "=" in line
    )
    with contextlib.suppress(KeyError):
        return (values["s3proxy.endpoint"], values["s3proxy.identity"].replace("\\\\", "\\"),
                values["s3proxy.credential"].replace("\\\\", "\\"))
    return None


def _remembered_keys(files: _Files) -> tuple[str, str] | None:
    remembered = _remembered(files)
    return (remembered[1], remembered[2]) if remembered else None


def running(folder: Path) -> int | None:
    """The pid of the server kept in `folder` when it is running."""
    files = _Files(folder.resolve())
    return daemons.running(files.pid, MAIN, str(files.properties))


def server(folder: Path) -> S3Server | None:
    """The running server kept in `folder`, or None: its pid file names a live s3proxy started
    with the folder's properties, which holds the socket of the endpoint they name."""
    files = _Files(folder.resolve())
    remembered = _remembered(files)
    pid = running(folder)
    if remembered is None or pid is None:
        return None
    found = S3Server(*remembered)
    return found if daemons.listens(pid, _port(found)) is not False else None


def _port(found: S3Server) -> int:
    return int(found.endpoint.rsplit(":", 1)[1])


def _serves(found: S3Server, pid: int) -> bool:
    """Whether the server started as `pid` answers on `found.endpoint`: the socket there is that
    process's (where the system says), and a request signed with its keys gets an S3 answer."""
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import BotoCoreError, ClientError

    if daemons.listens(pid, _port(found)) is False:
        return False
    client = found.client(BotoConfig(s3={"addressing_style": "path"}, connect_timeout=1, read_timeout=2,
                                     retries={"max_attempts": 1}))
    try:
        return "Buckets" in client.list_buckets()
    except (BotoCoreError, ClientError):
        return False


def start(
    data_dir: Path,
    port: int | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    timeout: float = 60.0,
) -> S3Server:
    """Start (or find running) the server kept in `data_dir`. Port and keys not given are the ones
    it had before, or a free port and new random keys the first time."""
    files = _Files(data_dir.resolve())
    files.folder.mkdir(parents=True, exist_ok=True)
    (files.folder / "buckets").mkdir(exist_ok=True)
    remembered = _remembered_keys(files)
    if (access_key is None) != (secret_key is None):
        raise S3ServerError("give both the access key and the secret key, or neither")
    keys = (access_key, secret_key) if access_key and secret_key else remembered
    keys = keys or (f"lakehouse-{secrets.token_hex(4)}", secrets.token_urlsafe(30))
    already = server(files.folder)
    if already is not None:
        if keys != remembered or (port is not None and already.endpoint != f"http://127.0.0.1:{port}"):
            raise S3ServerError(f"an S3 server with other settings is running from {files.folder}: stop it first")
        return already
    if running(files.folder) is not None:  # its process, not (yet) answering on its port
        raise S3ServerError(f"the S3 server of {files.folder} runs but does not answer on its port (still "
                            f"starting?); see {files.log}, or stop it first")
    remembered_port = int(files.port.read_text()) if files.port.exists() else None
    port = port or remembered_port or daemons.free_port()
    if daemons.port_taken(port):
        had = " (the port it had before: its clients' AWS_ENDPOINT_URL changes with --port)" \
            if port == remembered_port else ""
        raise S3ServerError(f"port {port} is in use by another process, not the S3 server of {files.folder}: "
                            f"stop that process, or start with --port and a free port{had}")
    jar = _jar()
    files.properties.touch(mode=0o600)
    files.properties.chmod(0o600)
    files.properties.write_text(_properties(files, port, *keys))
    found = S3Server(f"http://127.0.0.1:{port}", *keys)
    command = ["java", "-Xms64m", "-Xmx512m", "-cp", str(jar), MAIN, "--properties", str(files.properties)]
    pid = daemons.spawn(command, files.pid, files.log)
    try:
        daemons.wait_until(lambda: _serves(found, pid), files.pid, timeout, "the S3 server", files.log)
    except daemons.DaemonError as exc:
        stop(files.folder)
        raise S3ServerError(f"{exc} (endpoint {found.endpoint})") from None
    files.port.write_text(str(port))  # remembered once the server runs on it, not before
    log.info("S3 server on %s (pid %d, buckets in %s)", found.endpoint, pid, files.folder / "buckets")
    return found


def stop(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the server kept in `data_dir` and wait for it; False when none was running."""
    files = _Files(data_dir.resolve())
    return daemons.stop(files.pid, MAIN, str(files.properties), timeout=timeout)
