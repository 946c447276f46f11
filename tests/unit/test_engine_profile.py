"""The engine profile: what docs/engines.md says each engine can do is what the code declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lakehouse.config import load_config
from lakehouse.engine import EMBEDDED, EngineError, EngineProfile, _connect_profile, _spark_profile, profile_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "engines.md"


class _FakeConnect:
    """Only what `_connect_profile` asks a Spark Connect session: its version and `version()`."""

    def __init__(self, client_version: str, server_answer: str) -> None:
        self.version = client_version
        self._answer = server_answer

    def sql(self, _query: str):  # noqa: ANN202
        answer = self._answer

        class _Frame:
            def first(self) -> dict[str, str]:
                return {"v": answer}

        return _Frame()


def _config(**engine: object):  # noqa: ANN202
    return load_config("local", overrides={f"engine.{k}": v for k, v in engine.items()}, environ={})


def _documented() -> dict[str, dict[str, str]]:
    text = DOC.read_text()
    block = text[text.index("<!-- engine-profile:begin -->"):text.index("<!-- engine-profile:end -->")]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header, body = rows[0], rows[2:]
    return {row[0]: dict(zip(header[1:-1], row[1:-1], strict=True)) for row in body}


def test_the_documented_table_is_the_declared_profiles() -> None:
    sail_here = _connect_profile(_FakeConnect("4.0.1", "0.7.2"), "sc://127.0.0.1:1", _config(kind="connect"))
    sail_far = _connect_profile(_FakeConnect("4.0.1", "0.7.2"), "sc://10.0.0.5:1", _config(kind="connect"))
    spark_far = _connect_profile(_FakeConnect("4.0.1", "4.0.1 29434ea766b"), "sc://10.0.0.5:1",
                                 _config(kind="connect"))
    columns = {"embedded": [EMBEDDED], "spark (`local[...]`)": [_spark_profile("local[2]")],
               "spark (cluster master)": [_spark_profile("spark://10.0.0.5:7077")],
               "connect-sail": [sail_here, sail_far], "connect-spark": [spark_far]}
    documented = _documented()
    fields = [f for f in EngineProfile.__dataclass_fields__ if f != "name"]
    assert sorted(documented) == sorted(fields)
    for field in fields:
        for column, profiles in columns.items():
            values = {getattr(p, field) for p in profiles}
            cell = documented[field][column]
            if cell == "loopback":
                assert (sail_here.engine_on_this_machine, sail_far.engine_on_this_machine) == (True, False)
            elif cell == "setting":
                assert field == "driver_shares_files"
            else:
                expected = {cell == "yes"} if cell in ("yes", "no") else {cell}
                assert values == expected, (field, column)


def test_which_server_answers_a_connect_url() -> None:
    config = _config(kind="connect")
    assert _connect_profile(_FakeConnect("4.0.1", "0.7.2"), "sc://localhost:5", config).name == "connect-sail"
    spark = _connect_profile(_FakeConnect("4.0.1", "4.0.1 29434ea766b"), "sc://localhost:5", config)
    assert spark.name == "connect-spark" and spark.delta_sql_maintenance and not spark.merge_rewrites_table
    declared = _connect_profile(_FakeConnect("4.0.1", "0.7.2"), "sc://localhost:5", _config(kind="connect",
                                                                                          connect_server="spark"))
    assert declared.name == "connect-spark"


def test_where_the_driver_cannot_reach_the_files_upserts_merge_on_the_engine() -> None:
    far = _connect_profile(_FakeConnect("4.0.1", "0.7.2"), "sc://10.0.0.5:1", _config(kind="connect"))
    assert not far.driver_shares_files and far.upsert_default() == "merge"
    told = _connect_profile(_FakeConnect("4.0.1", "0.7.2"), "sc://10.0.0.5:1",
                            _config(kind="connect", driver_shares_files=True))
    assert told.driver_shares_files and told.upsert_default() == "delta-rs"
    assert _spark_profile("spark://m:7077").upsert_default() == "merge"
    assert _spark_profile("local[2]").upsert_default() == "delta-rs"
    assert EMBEDDED.upsert_default() == "delta-rs"


def test_a_session_not_made_here_has_no_profile() -> None:
    with pytest.raises(EngineError, match="not made by lakehouse.engine.get_session"):
        profile_of(object())  # type: ignore[arg-type]


def test_no_module_guesses_the_engine_from_a_session_class() -> None:
    root = Path(__file__).resolve().parents[2] / "lakehouse"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if re.search(r"type\(\w*\.?spark\)|__module__\.startswith", p.read_text())]
    assert offenders == []
