"""Background server processes the project starts for itself (S3 server, Spark cluster, Spark
Connect server): started in their own session with a pid file and a log, recognised by their
command line, stopped with SIGTERM and waited for."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class DaemonError(RuntimeError):
    """A server could not start (the message says why and where its log is)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether another process listens on `port` (a server's bind there would fail). Asked with
    SO_REUSEADDR, as servers bind: a port left in TIME_WAIT by a stopped server is free."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def listens(pid: int, port: int) -> bool | None:
    """Whether process `pid` holds the socket listening on TCP `port` (any address); None where the
    system does not say (no /proc)."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return None
    inodes = set()
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()  # sl local_address rem_address st ... inode (the tenth)
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in descriptors:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


def spawn(command: Sequence[str], pid_file: Path, log_file: Path, env: Mapping[str, str] | None = None) -> int:
    """Start `command` in the background (stdout and stderr appended to `log_file`); its pid."""
    with log_file.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )
    pid_file.write_text(f"{process.pid}\n")
    return process.pid


def running(pid_file: Path, *words: str) -> int | None:
    """The pid in `pid_file` when that process runs. A stale pid file's pid may since belong to
    another process (pids are reused), so where the system shows command lines, the process's
    must hold every one of `words` as an argument (its main class, a path in its folder)."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        pid = int(pid_file.read_text().split()[0])
        _reap(pid)
        os.kill(pid, 0)
        if Path("/proc/self/cmdline").exists():
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            if not all(word in args for word in words):
                return None
        return pid
    return None


def wait_until(ready: Callable[[], bool], pid_file: Path, timeout: float, what: str, log_file: Path) -> None:
    """Poll `ready` until it is true; DaemonError when the process died or `timeout` passed."""
    deadline = time.monotonic() + timeout
    pid = int(pid_file.read_text().split()[0])
    while not ready():
        if not _alive(pid):
            raise DaemonError(f"{what} exited while starting; see {log_file}")
        if time.monotonic() > deadline:
            raise DaemonError(f"{what} did not answer within {timeout:.0f} s; see {log_file}")
        time.sleep(0.2)


def stop(pid_file: Path, *words: str, timeout: float = 30.0) -> bool:
    """Stop the process of `pid_file` (SIGTERM, SIGKILL after `timeout`) and wait; False when none ran."""
    pid = running(pid_file, *words)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return pid is not None


def _reap(pid: int) -> None:
    # a server this process started and that exited stays a zombie (still "alive") until reaped
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
