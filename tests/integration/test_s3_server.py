"""The project's own S3 server (s3proxy): it answers signed requests, refuses wrong credentials and
a second conditional create, prints what clients need, and keeps buckets, port and keys across a restart."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from lakehouse import s3server
from lakehouse.cli import app
from lakehouse.s3server import S3Server

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
