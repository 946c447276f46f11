"""A class-data-sharing (CDS) archive for the local Spark driver: each JVM starts faster.

A JVM that runs Spark with Delta loads some 20 000 classes before its first write, and every
`lakehouse --engine spark` command, `spark-submit.sh` job and test process pays that again. A
dynamic CDS archive (Java 13+) keeps those classes parsed and verified in one file that the JVM
maps at start. Measured on 2 cores: a session plus five Delta overwrites took 42-49 s in a new
JVM, 37 s with the archive (start-up 13-14 s -> 8-9 s, the first write 15 s -> 10 s).

`lakehouse jvm-archive` (run by `make setup`) builds it once per machine: it runs a short Spark
workload (`lakehouse.jvm_workload`, in a process of its own: this module, where the engine reads
its JVM options, never reaches the Lake) in a new JVM started with `-XX:ArchiveClassesAtExit`,
then moves the file beside the jars, `<engine.jars_dir>/../spark-classes.jsa`. Local sessions and
`spark-submit.sh` use it when it is there. An archive made by another JDK or for other jars is
ignored by the JVM (silently: its CDS logging is off), so a stale one costs nothing but the speed-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lakehouse.config import Config

ARCHIVE_NAME = "spark-classes.jsa"
DUMP_ENV = "LAKEHOUSE_JVM_ARCHIVE_DUMP"  # set in the workload's process: where the JVM dumps at exit
QUIET = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")  # a mismatched archive is not an error to print


class ArchiveError(RuntimeError):
    """The archive could not be built; the message carries the workload's output."""


def archive_path(config: Config) -> Path | None:
    """Where the archive lives: beside the jars (none when spark-submit provides the jars)."""
    jars = config.jars_dir
    return None if jars is None else jars.parent / ARCHIVE_NAME


def java_options(config: Config) -> list[str]:
    """Driver JVM options: dump the archive (the build's workload), or use it when present, then
    `engine.java_options`."""
    dump = os.environ.get(DUMP_ENV)
    if dump:
        return [f"-XX:ArchiveClassesAtExit={dump}", *QUIET]
    path = archive_path(config)
    archive = [f"-XX:SharedArchiveFile={path}", "-Xshare:auto", *QUIET] if path and path.is_file() else []
    return [*archive, *config.engine.java_options]


def build(config: Config, timeout: float = 900) -> tuple[Path, float]:
    """Build the archive in a new JVM; returns (its path, seconds taken). Replaces an old one."""
    target = archive_path(config)
    if target is None:
        raise ArchiveError("engine.jars_dir is not set: spark-submit provides the jars, so there is no local JVM")
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jvm-archive-") as work:
        dump = Path(work) / ARCHIVE_NAME
        env = {**os.environ, DUMP_ENV: str(dump)}
        # The JVM inherits the pipes and writes the archive as it exits: reading the output to its
        # end waits for the dump to finish, not just for the Python side.
        done = subprocess.run(
            [sys.executable, "-m", "lakehouse.jvm_workload", str(Path(work) / "data"), str(config.jars_dir)],
            env=env, capture_output=True, text=True, timeout=timeout,
        )
        if done.returncode != 0 or not dump.is_file():
            output = (done.stdout + done.stderr)[-3000:]
            raise ArchiveError(f"the archive workload failed (exit {done.returncode}):\n{output}")
        partial = target.with_suffix(".partial")
        shutil.move(str(dump), partial)
        partial.replace(target)  # never a half-written archive under the name the JVM maps
    return target, time.monotonic() - started
