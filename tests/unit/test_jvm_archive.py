"""The driver JVM's class-data-sharing options (lakehouse/jvm_archive.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse import jvm_archive
from lakehouse.config import load_config


def _config(jars_dir: Path | None, java_options: list[str] | None = None):
    overrides: dict[str, object] = {"engine.jars_dir": str(jars_dir) if jars_dir else "",
                                    "engine.java_options": java_options or []}
    return load_config("test", overrides=overrides, environ={})


def test_no_archive_no_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(jvm_archive.DUMP_ENV, raising=False)
    assert jvm_archive.java_options(_config(tmp_path / "jars")) == []


def test_the_configured_options_come_after_the_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(jvm_archive.DUMP_ENV, raising=False)
    flags = ["-XX:TieredStopAtLevel=1", "-Xss4m"]
    assert jvm_archive.java_options(_config(tmp_path / "jars", flags)) == flags
    (tmp_path / "spark-classes.jsa").write_bytes(b"")
    options = jvm_archive.java_options(_config(tmp_path / "jars", flags))
    assert options[0].startswith("-XX:SharedArchiveFile=") and options[-2:] == flags



def test_an_archive_beside_the_jars_is_mapped_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(jvm_archive.DUMP_ENV, raising=False)
    (tmp_path / "spark-classes.jsa").write_bytes(b"")
    options = jvm_archive.java_options(_config(tmp_path / "jars"))
    assert options[0] == f"-XX:SharedArchiveFile={tmp_path / 'spark-classes.jsa'}"
    assert "-Xshare:auto" in options and "-Xlog:cds=off" in options  # a stale archive is skipped, not fatal


def test_the_build_workload_dumps_instead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "spark-classes.jsa").write_bytes(b"")
    monkeypatch.setenv(jvm_archive.DUMP_ENV, str(tmp_path / "new.jsa"))
    options = jvm_archive.java_options(_config(tmp_path / "jars"))
    assert options[0] == f"-XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}"
    assert not any("SharedArchiveFile" in o for o in options)


def test_without_local_jars_there_is_nothing_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(jvm_archive.DUMP_ENV, raising=False)
    config = _config(None)
    assert jvm_archive.archive_path(config) is None and jvm_archive.java_options(config) == []
    with pytest.raises(jvm_archive.ArchiveError, match="spark-submit provides the jars"):
        jvm_archive.build(config)
