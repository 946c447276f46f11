"""The broker's pid file: a stale one must never stop another process that has the pid since."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.streaming import broker

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc command lines")


def test_a_stale_pid_file_naming_another_process_is_not_a_running_broker(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = broker.Broker(tmp_path, 9)
        stale.pid_file.write_text(f"{other.pid}\n")
        assert broker.running(stale) is None
        assert broker.stop(stale, timeout=1) is False
        assert other.poll() is None, "stop() signalled a process that is not the broker"
    finally:
        other.kill()
        other.wait()


def test_a_pid_file_naming_a_live_process_with_the_broker_command_is_running(tmp_path: Path) -> None:
    # a stand-in with the command line a broker of this folder has; it is never signalled here
    properties = str(tmp_path.resolve() / "server.properties")
    code = "import time; print('up', flush=True); time.sleep(60)"
    stand_in = subprocess.Popen([sys.executable, "-c", code, "kafka.Kafka", properties], stdout=subprocess.PIPE)
    try:
        assert stand_in.stdout is not None and stand_in.stdout.readline() == b"up\n"  # its command line is set
        live = broker.Broker(tmp_path, 9)
        live.pid_file.write_text(f"{stand_in.pid}\n")
        assert broker.running(live) == stand_in.pid
        elsewhere = broker.Broker(tmp_path / "elsewhere", 9)
        elsewhere.folder.mkdir()
        elsewhere.pid_file.write_text(f"{stand_in.pid}\n")
        assert broker.running(elsewhere) is None, "another folder's broker is not this one"
    finally:
        stand_in.kill()
        stand_in.wait()
