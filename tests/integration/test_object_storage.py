"""The lake and the landing zone on the project's S3 server (s3proxy), run as users run them: the
`lakehouse` command in its own process, configured by the standard AWS_* variables only.

The sources are the session's small world (`small_world`): its landing files are uploaded to the
bucket, its app database and FX rates copied, so the run on S3 must give the same tables, row for
row, as the embedded engine's run on local disk. Tables are read back with delta-rs, not with the
code under test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehouse.config import Config, load_config
from lakehouse.deltalog import delta_table, delta_tables
from lakehouse.files import Location, S3Settings
from tests.integration import lakes
from tests.integration.lakes import LAKEHOUSE

pytestmark = pytest.mark.integration

LEASE = "3"  # seconds: a killed run's lock is taken over this soon


def embedded_only(reason: str) -> pytest.MarkDecorator:
    """Skipped on Spark at collection, so the worlds a test asks for are not built there to be skipped."""
    return pytest.mark.skipif('config.getoption("engine") == "spark"', reason=reason)


driver_side_only = embedded_only(
    "the lake lock, its lease and the landing ledger's rollback are the driver's, the same code on every "
    "engine (delta-rs and the file layer): tested on the embedded engine, where a run takes seconds, not the "
    "minutes of a JVM run and rerun")


def _env(server, root: Location, **extra: str) -> dict[str, str]:
    return lakes.env(server, root, LAKEHOUSE_STORAGE__LOCK_LEASE_SECONDS=LEASE, **extra)


def _lakehouse(config: Config, env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return lakes.lakehouse(config.engine.kind, config.data_dir, env, *args, timeout=timeout)


def _start(config: Config, env: dict[str, str], *args: str) -> subprocess.Popen:
    command = [LAKEHOUSE, "--env", "test", "--engine", config.engine.kind, "--data-dir", str(config.data_dir), *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def s3_world(small_world: Config, s3_server, engine: str, tmp_path_factory: pytest.TempPathFactory):
    """The small world's sources with landing and lake in a bucket of their own; not run yet."""
    root = lakes.new_bucket(s3_server, "lake")
    data_dir = tmp_path_factory.mktemp("s3-world")
    lakes.sources_on_s3(small_world, root, data_dir)
    config = load_config("test", overrides={"engine.kind": engine, "data_dir": str(data_dir)}, environ={})
    return config, _env(s3_server, root), root


def test_the_pipeline_on_s3_equals_the_run_on_local_disk(s3_world, small_world: Config) -> None:
    config, env, root = s3_world
    done = _lakehouse(config, env, "run", timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (config.data_dir / "lake").exists()  # nothing of the lake on local disk
    lakes.assert_same_tables(root / "lake", small_world.lake)
    secret = env["AWS_SECRET_ACCESS_KEY"]
    assert secret not in done.stdout + done.stderr
    for table in delta_tables(root / "lake", ("ops",)):  # run records, ledger, check results
        layer, name = table.split(".")
        assert secret not in str(delta_table(root / "lake" / layer / name).to_pyarrow_table().to_pylist()), table


@driver_side_only
def test_a_killed_writer_is_taken_over_and_files_landed_meanwhile_are_ingested(s3_world, engine: str) -> None:
    config, env, root = s3_world
    lock = root / "lake" / "_lakehouse.lock"
    run = _start(config, env, "run")
    try:
        _wait_for(lock.exists)  # the run holds the lake: land files while it works
        landed = [f'{{"event_id": "late-{i}", "session_id": "s-late", "event_type": "page_view", '
                  f'"ts": "2026-01-05T10:00:0{i}Z", "device": "web", "page": "/"}}' for i in range(5)]
        (root / "sources" / "clickstream" / "date=2026-01-05" / "late-0001.jsonl").write_text("\n".join(landed) + "\n")
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        run.wait(timeout=60)
    assert lock.exists()  # the dead run's lease is left behind ...

    rerun = _lakehouse(config, env, "run", "--wait", "60")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "taking over the lake lock" in rerun.stderr  # ... and taken over once it has expired
    events = delta_table(root / "lake" / "bronze" / "events").to_pyarrow_table(columns=["event_id"])
    ids = [e for e in events.column("event_id").to_pylist() if str(e).startswith("late-")]
    assert sorted(ids) == [f"late-{i}" for i in range(5)]  # each once: nothing lost, nothing twice
    assert not lock.exists()


@embedded_only("Apache Spark reaches S3 through S3A settings made from the same defaults (its region, TLS off "
               "for http://), not from these variables: the environment is Sail's")
def test_a_run_on_the_project_server_needs_neither_aws_region_nor_aws_allow_http(
    small_world: Config, s3_server, engine: str, tmp_path: Path
) -> None:
    """Sail reads AWS_REGION and AWS_ALLOW_HTTP itself, where the project's own clients default
    them (a region; plain http for an http:// endpoint): the engine is given the same defaults."""
    root = lakes.new_bucket(s3_server, "noregion")
    lakes.sources_on_s3(small_world, root, tmp_path)
    unset = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ALLOW_HTTP")
    env = {k: v for k, v in _env(s3_server, root).items() if k not in unset}
    assert env["AWS_ENDPOINT_URL"].startswith("http://")
    done = lakes.lakehouse("embedded", tmp_path, env, "run", "bronze")
    assert done.returncode == 0, done.stderr[-3000:]
    names = delta_tables(small_world.lake, ("bronze",))
    assert delta_tables(root / "lake", ("bronze",)) == names
    for table in names:
        name = table.split(".")[1]
        expected = delta_table(small_world.lake / "bronze" / name).to_pyarrow_table().num_rows
        assert delta_table(root / "lake" / "bronze" / name).to_pyarrow_table().num_rows == expected, table


@pytest.mark.parametrize("problem", ["wrong credentials", "missing bucket", "missing landing bucket"])
def test_an_unreachable_store_is_one_line_naming_endpoint_and_bucket(s3_world, s3_server, problem: str) -> None:
    config, env, root = s3_world
    lake = lakes.new_bucket(s3_server, "untouched") / "lake"  # a lake the failed run must leave empty
    env = {**env, "LAKEHOUSE_LAKE_URI": str(lake)}
    if problem == "wrong credentials":  # refused by the landing's bucket or the lake's, whichever is asked first
        buckets = {root.bucket, lake.bucket}
        env = {**env, "AWS_SECRET_ACCESS_KEY": "not-the-secret-" + uuid.uuid4().hex}
    else:
        buckets = {f"missing-{uuid.uuid4().hex[:8]}"}
        variable, folder = ("LAKEHOUSE_LAKE_URI", "lake") if problem == "missing bucket" else \
            ("LAKEHOUSE_LANDING_URI", "sources")
        env = {**env, variable: f"s3://{next(iter(buckets))}/{folder}"}
    done = _lakehouse(config, env, "run")
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, done.stderr
    assert s3_server.endpoint in errors[0] and any(f"bucket {b}" in errors[0] for b in buckets), errors[0]
    assert "Traceback" not in done.stderr and env["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
    assert lake.parent.list(recursive=True) == []  # nothing written: no ops record, no bronze table


@pytest.mark.parametrize(("command", "variable"), [("tables", "LAKEHOUSE_LAKE_URI"),
                                                   ("generate", "LAKEHOUSE_LANDING_URI")])
def test_a_command_on_a_missing_bucket_is_one_line_naming_endpoint_and_bucket(
    s3_world, s3_server, command: str, variable: str, tmp_path: Path
) -> None:
    """`tables` printed an empty table for a lake whose bucket is missing; `generate` wrote the app
    database, then failed with a traceback at the first landed file."""
    config, env, _ = s3_world
    bucket = f"missing-{uuid.uuid4().hex[:8]}"
    environ = {**env, variable: f"s3://{bucket}/x"}
    done = lakes.lakehouse(config.engine.kind, tmp_path / "data", environ, command, "--scale", "0.001", "--days",
                           "1") if command == "generate" else _lakehouse(config, environ, command)
    assert done.returncode == 1 and done.stdout == "", done.stdout + done.stderr  # no table, not even an empty one
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert s3_server.endpoint in done.stderr and f"bucket {bucket}" in done.stderr
    assert "the bucket does not exist" in done.stderr
    assert not (tmp_path / "data").exists()  # nothing generated


@pytest.mark.parametrize("command", [("sql", "SELECT count(*) AS n FROM gold.daily_sales"),
                                     ("describe", "gold.daily_sales"), ("maintain", "--dry-run")])
def test_reading_commands_on_a_missing_bucket_say_so_in_one_line(
    s3_world, s3_server, command: tuple[str, ...]
) -> None:
    """They ended in a page of traceback around the same message."""
    config, env, _ = s3_world
    bucket = f"missing-{uuid.uuid4().hex[:8]}"
    done = _lakehouse(config, {**env, "LAKEHOUSE_LAKE_URI": f"s3://{bucket}/x"}, *command)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and f"bucket {bucket}" in done.stderr, done.stderr


@driver_side_only
def test_a_store_stopped_mid_run_fails_in_one_line_and_the_rerun_completes(
    built_world: Config, engine: str, tmp_path: Path
) -> None:
    """On the built world (larger than the small one): its bronze jobs still run 2 s after the lock
    is taken."""
    from lakehouse import s3server

    server = s3server.start(tmp_path / "s3")
    try:
        bucket = "stopped"
        server.create_bucket(bucket)
        root = Location(f"s3://{bucket}", S3Settings.from_env(server.env()))
        lakes.sources_on_s3(built_world, root, tmp_path / "world")
        config = load_config("test", overrides={"engine.kind": engine, "data_dir": str(tmp_path / "world")},
                             environ={})
        env = _env(server, root)
        run = _start(config, env, "run", "bronze")
        _wait_for((root / "lake" / "_lakehouse.lock").exists)
        time.sleep(2)  # the jobs are at work
        s3server.stop(tmp_path / "s3")
        _, stderr = run.communicate(timeout=600)
        assert run.returncode != 0
        assert "Traceback" not in stderr and env["AWS_SECRET_ACCESS_KEY"] not in stderr
        # the run's last words: one line per failed job (or one error line when the lock went first)
        failed = [line for line in stderr.splitlines() if re.match(r"(\w+ failed: |error: )", line)]
        assert failed and all(server.endpoint in line and f"bucket {bucket}" in line for line in failed), stderr

        server = s3server.start(tmp_path / "s3")  # the same port, keys and buckets
        rerun = _lakehouse(config, env, "run", "bronze", "--wait", "60")
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        local = built_world.lake
        for table in delta_tables(local, ("bronze",)):
            name = table.split(".")[1]
            expected = delta_table(local / "bronze" / name).to_pyarrow_table().num_rows
            assert delta_table(root / "lake" / "bronze" / name).to_pyarrow_table().num_rows == expected, table
    finally:
        s3server.stop(tmp_path / "s3")


@embedded_only("the demo's own part (its S3 server, the AWS_* variables it ignores, the lines it prints) is the "
               "driver's, the same on every engine; Apache Spark's reads and writes on S3 are tested here by "
               "test_the_pipeline_on_s3_equals_the_run_on_local_disk and by the ML, CRM and serving tests on S3")
def test_the_demo_on_the_object_store_keeps_the_lake_in_the_bucket_and_says_how_to_reach_it(
    engine: str, tmp_path: Path
) -> None:
    """`lakehouse demo --object-store` as a user runs it, from a shell whose AWS_* variables point
    elsewhere (another endpoint for S3 alone, a session token, a profile that does not exist here):
    the landing files and the lake go to the S3 server it starts, it says which variables it
    ignored, and the lines it prints reach that lake from such a shell too."""
    import shlex
    import socket

    from lakehouse import s3server

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEHOUSE_", "SPARK_"))}
    environ |= {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9", "AWS_SESSION_TOKEN": "not-a-token",
                "AWS_PROFILE": "no-such-profile"}
    done = lakes.lakehouse(engine, tmp_path, environ, "demo", "--object-store", "--scale", "0.01", "--days", "70",
                           timeout=1800)
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        said = " ".join(done.stderr.split())
        assert "AWS_ENDPOINT_URL_S3, AWS_PROFILE, AWS_SESSION_TOKEN from the environment ignored" in said, said
        server = s3server.server(tmp_path / "s3")
        assert server is not None, "the demo's S3 server is not running after the demo"
        assert server.secret_key not in done.stdout + done.stderr
        assert not (tmp_path / "lake").exists()  # nothing of the lake on local disk ...
        assert not (tmp_path / "sources" / "clickstream").exists()  # ... nor of the landing zone
        bucket = Location("s3://lakehouse", S3Settings.from_env(server.env()))
        segments = lakes.table(bucket / "lake" / "gold" / "customer_segments").to_pandas()
        inserted = int(re.search(r"CRM: postgres: .*?: (\d+) insert\(s\)", done.stdout).group(1))
        assert inserted == len(segments) > 0
        landed = int(re.search(r"landed ([\d,]+) readings", done.stdout).group(1).replace(",", ""))
        telemetry = lakes.table(bucket / "lake" / "bronze" / "telemetry").to_pandas()
        assert landed > 0 and telemetry["_source"].str.startswith("fleet.telemetry/").sum() == landed
        assert (bucket / "sources" / "clickstream").list()

        # what it says to run in a new shell: `eval "$(lakehouse s3 start)"` and the printed exports
        printed = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("eval ")]
        assert len(printed) == 1, done.stdout[-3000:]
        shell = dict(environ)
        started = lakes.lakehouse(engine, tmp_path, environ, "s3", "start", timeout=120)
        assert started.returncode == 0, started.stderr
        for line in started.stdout.splitlines() + [printed[0].split(";", 1)[1].strip()]:
            words = shlex.split(line)
            assert words[0] in ("export", "unset"), line
            if words[0] == "unset":
                for name in words[1:]:
                    shell.pop(name)
            else:
                shell.update(word.split("=", 1) for word in words[1:])
        assert not {"AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_PROFILE"} & set(shell)
        query = "SELECT count(*) AS n FROM gold.customer_segments"
        answer = lakes.lakehouse(engine, tmp_path, shell, "sql", "--format", "json", query, timeout=600)
        assert answer.returncode == 0, answer.stderr[-3000:]
        assert [json.loads(line) for line in answer.stdout.splitlines()] == [{"n": len(segments)}]
        port = int((tmp_path / "kafka" / "port").read_text())
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "the demo left its broker running"
    finally:
        s3server.stop(tmp_path / "s3")


def test_a_run_whose_lease_was_taken_over_writes_no_more(s3_server, spark) -> None:
    """A run paused past its lease (a suspended laptop) finds on waking that another run took the
    lake: its next write raises instead of racing the new holder, and writes nothing."""
    import pyarrow as pa

    from lakehouse import s3lock
    from lakehouse.storage import Lake

    lake = lakes.new_bucket(s3_server, "lost") / "lake"
    with s3lock.lease_lock(lake, lease_seconds=3):
        s3lock.ensure_held(lake)  # held: writes go on
        taken = {"holder": "another run", "token": uuid.uuid4().hex, "expires": time.time() + 60}
        (lake / s3lock.LOCK_NAME).write_text(json.dumps(taken))  # what a takeover leaves
        _wait_for(lambda: "token" in (lake / s3lock.LOCK_NAME).read_text() and _lost(lake), timeout=30)
        with pytest.raises(s3lock.LakeLockLost, match=f"lost the lake lock at {lake}"):
            Lake(spark, lake).append_arrow(pa.table({"x": [1]}), "ops.after_the_takeover")
    assert not (lake / "ops" / "after_the_takeover").exists()
    assert json.loads((lake / s3lock.LOCK_NAME).read_text())["token"] == taken["token"]  # not released by us


@driver_side_only
def test_a_malformed_lock_is_a_clear_wait_and_is_taken_over_once_unchanged_for_a_lease(
    s3_world, s3_server, engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A lock object whose `expires` is not a number (a foreign tool, a hand edit) stops a writer in
    one line naming the object and what is wrong with it, not with a traceback; its holder cannot
    renew a format it does not write, so once it has gone unchanged for a lease it is taken over."""
    import logging

    from lakehouse import s3lock

    config, env, _ = s3_world
    lake = lakes.new_bucket(s3_server, "badlock") / "lake"
    lock = lake / s3lock.LOCK_NAME
    lock.write_text(json.dumps({"holder": "a tool", "token": "x", "expires": "soon"}))
    long_lease = {"LAKEHOUSE_LAKE_URI": str(lake), "LAKEHOUSE_STORAGE__LOCK_LEASE_SECONDS": "600"}
    done = _lakehouse(config, {**env, **long_lease}, "run")
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(lock) in errors[0] and "'expires' is \"soon\"" in errors[0], done.stderr
    assert json.loads(lock.read_text())["holder"] == "a tool"  # left as it was

    with caplog.at_level(logging.WARNING, logger="lakehouse.s3lock"), \
            s3lock.lease_lock(lake, wait_seconds=30, lease_seconds=3):
        assert json.loads(lock.read_text())["holder"] != "a tool"
    assert any(str(lock) in r.getMessage() and "'expires'" in r.getMessage() for r in caplog.records)
    assert not lock.exists()


def _lost(lake: Location) -> bool:
    from lakehouse import s3lock

    try:
        s3lock.ensure_held(lake)
    except s3lock.LakeLockLost:
        return True
    return False


@embedded_only("starts Apache Spark in a process of its own: run from the embedded pass, as the cluster tests are")
def test_apache_spark_reaches_s3_with_no_key_on_a_command_line(
    small_world: Config, s3_server, engine: str, tmp_path: Path
) -> None:
    """PySpark hands a JVM it starts its settings as command-line arguments, which any local user
    sees in `ps`: the keys reach S3A through the JVM's environment instead."""
    lake = lakes.lake_on_s3(small_world, s3_server, "ps")
    environ = lakes.env(s3_server, lake.parent)
    secret = environ["AWS_SECRET_ACCESS_KEY"]
    command = [LAKEHOUSE, "--env", "test", "--engine", "spark", "--data-dir", str(tmp_path), "sql", "--format",
               "json", "SELECT count(*) AS n FROM gold.daily_sales"]
    run = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    while run.poll() is None:  # every command line on the machine while the JVM works
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if secret in text:
                seen.append(text[:200])
        time.sleep(0.2)
    out, err = run.communicate()
    assert run.returncode == 0, err[-3000:]
    assert [json.loads(line) for line in out.splitlines()] == [{"n": lakes.table(lake / "gold" / "daily_sales")
                                                               .to_pyarrow_table().num_rows}]
    assert not seen, seen
