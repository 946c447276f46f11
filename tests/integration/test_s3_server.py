"""The project's own S3 server (s3proxy): it answers signed requests, refuses wrong credentials and
a second conditional create, prints what clients need, and keeps buckets, port and keys across a restart."""

from __future__ import annotations

import contextlib
import http.server
import os
import shlex
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from lakehouse import daemons, s3server
from lakehouse.cli import app
from lakehouse.s3server import S3Server
from tests.integration.lakes import LAKEHOUSE

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(name)
    return name


def test_env_names_exactly_the_variables_s3_clients_read(s3_server: S3Server) -> None:
    env = s3_server.env()
    assert env == {
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_ENDPOINT": s3_server.endpoint,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_REGION": s3_server.region,
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }
    assert s3_server.endpoint.startswith("http://127.0.0.1:")
    assert s3_server.secret_key not in repr(s3_server)


def test_objects_round_trip_and_creating_a_bucket_twice_is_no_error(s3_server: S3Server, bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    assert client.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"hello"
    s3_server.create_bucket(bucket)
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/b.txt"]


def test_a_second_conditional_create_of_a_key_is_refused_with_412(s3_server: S3Server, bucket: str) -> None:
    # Sail's and delta-rs's Delta commits rely on it: two writers of one version, one wins
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="_delta_log/00.json", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="_delta_log/00.json", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=bucket, Key="_delta_log/00.json")["Body"].read() == b"first"


@pytest.mark.parametrize("wrong", ["secret", "access key", "unsigned"])
def test_a_request_with_wrong_credentials_is_refused(s3_server: S3Server, bucket: str, wrong: str) -> None:
    if wrong == "unsigned":
        assert httpx.get(f"{s3_server.endpoint}/{bucket}").status_code == 403
        return
    forged = S3Server(
        s3_server.endpoint,
        "nobody" if wrong == "access key" else s3_server.access_key,
        s3_server.secret_key + "x" if wrong == "secret" else s3_server.secret_key,
    )
    with pytest.raises(ClientError) as refused:
        forged.client().list_objects_v2(Bucket=bucket)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    code = refused.value.response["Error"]["Code"]
    assert code == ("SignatureDoesNotMatch" if wrong == "secret" else "InvalidAccessKeyId")


def test_cli_start_prints_the_exports_and_the_log_holds_no_secret(s3_server: S3Server, s3_server_dir: Path) -> None:
    result = runner.invoke(app, ["--env", "test", "s3", "start", "--data-dir", str(s3_server_dir)])
    assert result.exit_code == 0, result.output
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines() if line.startswith("export ")
    )
    assert exports == s3_server.env()
    assert s3_server.secret_key not in (s3_server_dir / "s3.log").read_text()
    assert (s3_server_dir / "s3proxy.properties").stat().st_mode & 0o077 == 0


def test_a_restart_keeps_port_keys_and_objects(s3_server: S3Server, s3_server_dir: Path, bucket: str) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="kept", Body=b"before")
    try:
        result = runner.invoke(app, ["--env", "test", "s3", "stop", "--data-dir", str(s3_server_dir)])
        assert result.exit_code == 0 and "S3 server stopped" in result.stdout, result.output
        assert s3server.running(s3_server_dir) is None
        with pytest.raises(httpx.ConnectError):
            httpx.get(s3_server.endpoint, timeout=2)
        assert s3server.stop(s3_server_dir) is False
    finally:
        again = s3server.start(s3_server_dir)
    assert again == s3_server
    assert s3_server.client().get_object(Bucket=bucket, Key="kept")["Body"].read() == b"before"


BUCKETS_XML = (b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/'
               b'2006-03-01/"><Owner><ID>x</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>')


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Answers every request as an S3 server with no bucket would, whatever its signature."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(BUCKETS_XML)))
        self.end_headers()
        self.wfile.write(BUCKETS_XML)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _another_process_on(port: int) -> Iterator[None]:
    # (a thread of this process: the server's own process is what counts, and this is not it)
    impostor = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Impostor)
    thread = threading.Thread(target=impostor.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        impostor.shutdown()
        impostor.server_close()


def _port(server: S3Server) -> int:
    return int(server.endpoint.rsplit(":", 1)[1])


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.fixture
def stopped_server(tmp_path: Path) -> Iterator[tuple[Path, S3Server]]:
    """A server of its own that ran once (its port, keys and folder remembered) and is stopped."""
    folder = tmp_path / "s3"
    first = s3server.start(folder)
    s3server.stop(folder)
    try:
        yield folder, first
    finally:
        s3server.stop(folder)


def test_another_process_on_the_remembered_port_is_refused_in_one_line(stopped_server) -> None:
    folder, first = stopped_server
    port = _port(first)
    with _another_process_on(port):
        httpx.get(first.endpoint, timeout=5).raise_for_status()  # it answers, as an S3 server would
        result = runner.invoke(app, ["--env", "test", "s3", "start", "--data-dir", str(folder)])
        assert result.exit_code == 2, result.output
        assert "export" not in result.stdout
        [line] = _error_lines(result.output)
        assert f"port {port} is in use by another process" in line and "--port" in line, result.output
        assert s3server.running(folder) is None and s3server.server(folder) is None
    assert s3server.start(folder) == first  # once the port is free again: the same server, port and keys


def test_a_port_it_could_not_start_on_is_not_remembered(stopped_server) -> None:
    folder, first = stopped_server
    taken = daemons.free_port()
    with _another_process_on(taken):
        result = runner.invoke(app, ["--env", "test", "s3", "start", "--port", str(taken), "--data-dir", str(folder)])
        assert result.exit_code == 2, result.output
        [line] = _error_lines(result.output)
        assert f"port {taken} is in use by another process" in line, result.output
    assert (folder / "port").read_text() == str(_port(first))
    assert s3server.start(folder) == first  # back on the port it had


def test_an_answer_from_another_process_is_not_taken_for_the_server(
    stopped_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the port check (another process may bind the port between it and the server's start),
    the server is reported running only once its own process answers on the port."""
    folder, first = stopped_server
    taken = daemons.free_port()
    monkeypatch.setattr(daemons, "port_taken", lambda port, host="127.0.0.1": False)
    with _another_process_on(taken), pytest.raises(s3server.S3ServerError, match="exited while starting"):
        s3server.start(folder, taken)
    assert s3server.running(folder) is None
    assert (folder / "port").read_text() == str(_port(first))


# What a shell may hold for another S3 service or account (the profile does not exist here).
ELSEWHERE = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9", "AWS_SESSION_TOKEN": "not-a-token",
             "AWS_PROFILE": "no-such-profile"}


def test_the_servers_client_ignores_a_shells_endpoint_token_and_profile(
    s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ELSEWHERE.items():
        monkeypatch.setenv(name, value)
    assert bucket in {b["Name"] for b in s3_server.client().list_buckets()["Buckets"]}


def test_eval_of_cli_start_leaves_a_shell_with_the_servers_variables_alone(
    s3_server: S3Server, s3_server_dir: Path
) -> None:
    environ = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **ELSEWHERE,
               "AWS_ACCESS_KEY_ID": "someone-elses"}
    command = f'eval "$({LAKEHOUSE} --env test s3 start --data-dir {shlex.quote(str(s3_server_dir))})" && env -0'
    done = subprocess.run(["bash", "-c", command], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shell = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    assert {k: v for k, v in shell.items() if k.startswith("AWS_")} == s3_server.env()
