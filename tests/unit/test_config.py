"""Configuration: layers, environment overrides, and one-line errors that name the key and file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lakehouse.config import ConfigError, load_config


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(
        "data_dir: base-data\nengine:\n  kind: embedded\n  conf:\n    spark.a: '1'\n    spark.b: '1'\n"
        "pipeline:\n  cold_chain_limit_c: 8.0\n"
    )
    (tmp_path / "dev.yaml").write_text("engine:\n  conf:\n    spark.b: '2'\npipeline:\n  cold_chain_limit_c: 6.5\n")
    return tmp_path


def test_layers_overlay_and_spark_settings_add_up(conf_dir: Path) -> None:
    config = load_config("dev", conf_dir=conf_dir, environ={})
    assert config.env == "dev"
    assert config.pipeline.cold_chain_limit_c == 6.5
    assert config.engine.conf == {"spark.a": "1", "spark.b": "2"}
    assert config.data_dir == Path("base-data").absolute()
    assert config.lake_dir == config.data_dir / "lake"
    assert config.app_db_url == f"sqlite:///{config.data_dir / 'sources' / 'app.db'}"


def test_environment_variables_override_files(conf_dir: Path, tmp_path: Path) -> None:
    environ = {
        "LAKEHOUSE_DATA_DIR": str(tmp_path / "elsewhere"),
        "LAKEHOUSE_ENGINE": "spark",
        "LAKEHOUSE_PIPELINE__RUN_DATE": "2026-02-01",
        "LAKEHOUSE_SOURCES__FX__ATTEMPTS": "7",
        "LAKEHOUSE_API_KEYS": "belongs-to-the-api-not-to-this-file",
    }
    config = load_config("dev", conf_dir=conf_dir, environ=environ)
    assert config.data_dir == tmp_path / "elsewhere"
    assert config.engine.kind == "spark"
    assert config.pipeline.run_date == dt.date(2026, 2, 1)
    assert config.sources.fx.attempts == 7


def test_overrides_win_and_none_means_not_given(conf_dir: Path) -> None:
    config = load_config("dev", {"engine.kind": "connect", "data_dir": None}, conf_dir=conf_dir, environ={})
    assert config.engine.kind == "connect" and config.data_dir == Path("base-data").absolute()


def test_config_is_frozen(conf_dir: Path) -> None:
    config = load_config("dev", conf_dir=conf_dir, environ={})
    with pytest.raises(ValueError):
        config.pipeline.cold_chain_limit_c = 1.0  # type: ignore[misc]


def test_unknown_key_names_the_key_and_the_file(conf_dir: Path) -> None:
    (conf_dir / "dev.yaml").write_text("pipeline:\n  cold_chain_limt_c: 6.5\n")
    with pytest.raises(ConfigError) as info:
        load_config("dev", conf_dir=conf_dir, environ={})
    message = str(info.value)
    assert "pipeline.cold_chain_limt_c" in message and str(conf_dir / "dev.yaml") in message
    assert "\n" not in message


def test_bad_value_names_the_key_and_its_source(conf_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"config key 'engine.kind' from environment: Input should be"):
        load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_ENGINE": "duckdb"})
    with pytest.raises(ConfigError, match=r"'sources.fx.attempts' from environment"):
        load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_SOURCES__FX__ATTEMPTS": "0"})


def test_missing_environment_file_is_a_clear_error(conf_dir: Path) -> None:
    with pytest.raises(ConfigError, match="--env prod: no such file"):
        load_config("prod", conf_dir=conf_dir, environ={})


def test_outside_the_project_the_error_says_where_settings_are_looked_for(tmp_path: Path, monkeypatch) -> None:
    """An installed package run from another folder: no conf/ beside it nor in the working folder."""
    import lakehouse.config as config_module

    monkeypatch.setattr(config_module, "DEFAULT_CONF_DIR", tmp_path / "site-packages" / "conf")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"base\.yaml.*set LAKEHOUSE_CONF_DIR"):
        load_config("local", environ={})
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "base.yaml").write_text("pipeline:\n  cold_chain_limit_c: 6.5\n")
    with pytest.raises(ConfigError, match=r"--env local: no such file .*local\.yaml$"):  # the folder was given
        load_config("local", environ={"LAKEHOUSE_CONF_DIR": str(tmp_path / "settings")})
    (tmp_path / "settings" / "local.yaml").write_text("{}\n")
    loaded = load_config("local", environ={"LAKEHOUSE_CONF_DIR": str(tmp_path / "settings")})
    assert loaded.pipeline.cold_chain_limit_c == 6.5


def test_shipped_environments_load() -> None:
    for env in ("local", "cluster", "test"):
        assert load_config(env, environ={}).env == env


def test_variables_of_other_parts_are_not_config_keys(conf_dir: Path) -> None:
    others = {"LAKEHOUSE_TEST_ENGINES": "embedded spark", "LAKEHOUSE_TEST_ENGINE": "spark",
              "LAKEHOUSE_TEST_SPLIT": "0", "LAKEHOUSE_TEST_SERIAL": "1", "LAKEHOUSE_TEST_STORE_DURATIONS": "1",
              "LAKEHOUSE_API_KEYS": "a,b", "LAKEHOUSE_CRM_TOKEN": "secret"}
    assert load_config("dev", conf_dir=conf_dir, environ=others) == load_config("dev", conf_dir=conf_dir, environ={})
    with pytest.raises(ConfigError, match="test_engine_s"):
        load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_TEST_ENGINE_S": "x"})


def test_the_test_runners_variables_are_not_config_keys(conf_dir: Path) -> None:
    """Every LAKEHOUSE_* variable scripts/test.sh reads would otherwise fail every run it is set for."""
    import re

    script = (Path(__file__).parents[2] / "scripts" / "test.sh").read_text()
    names = set(re.findall(r"\bLAKEHOUSE_[A-Z_]+\b", script))
    assert "LAKEHOUSE_TEST_STORE_DURATIONS" in names
    environ = dict.fromkeys(names, "1")
    assert load_config("dev", conf_dir=conf_dir, environ=environ) == load_config("dev", conf_dir=conf_dir, environ={})


@pytest.mark.parametrize("variable", ["LAKEHOUSE_LAKE_URI", "LAKEHOUSE_LANDING_URI"])
@pytest.mark.parametrize(("uri", "named"), [
    ("s3://lake-bucket/my lake", "a space"),
    ("s3://lake-bucket/lake\u00e9", "'\u00e9' (U+00E9)"),
    ("s3://lake-bucket/it's", "a quote (')"),
    ('s3://lake-bucket/"lake"', 'a quote (")'),
    ("s3://lake-bucket/my%20lake", "'%20'"),
    ("s3://lake-bucket/lake#2", "'#'"),
    ("s3://lake-bucket/lake?v=2", "'?'"),
    ("s3://lake-bucket/a/../lake", "'..'"),
    ("s3://Lake_Bucket/lake", "'L'"),
    ("s3://lake bucket/lake", "a space"),
    ("/tmp/my lake", "a space"),
    ("/tmp/lake\u00e9", "'\u00e9' (U+00E9)"),
    ("/tmp/it's", "a quote (')"),
    ("/tmp/lake#2", "'#'"),
    ("/tmp/lake?2", "'?'"),
    ("/tmp/my%20lake", "'%20'"),
    ("gs://lake-bucket/lake", "'gs://'"),
])
def test_a_uri_the_engines_cannot_take_is_refused_naming_the_setting_and_the_character(
    conf_dir: Path, variable: str, uri: str, named: str
) -> None:
    key = {"LAKEHOUSE_LAKE_URI": "storage.lake_uri", "LAKEHOUSE_LANDING_URI": "sources.landing_uri"}[variable]
    with pytest.raises(ConfigError) as info:
        load_config("dev", conf_dir=conf_dir, environ={variable: uri})
    message = str(info.value)
    assert message.startswith(f"config key '{key}' from environment: ") and named in message, message
    assert "\n" not in message and "Value error" not in message


@pytest.mark.parametrize("uri", ["s3://AKIAEXAMPLE:wJalr/XUtnFEMI@lake-bucket/lake",
                                 "s3://AKIAEXAMPLE:wJalrXUtnFEMI@lake-bucket/lake", "S3A://user@lake-bucket/lake"])
def test_credentials_in_a_uri_are_refused_without_repeating_them(conf_dir: Path, uri: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_LAKE_URI": uri})
    message = str(info.value)
    assert "credentials do not belong in the URI" in message
    for part in ("AKIAEXAMPLE", "wJalr", "XUtnFEMI", "user"):
        assert part not in message


@pytest.mark.parametrize(("uri", "kept"), [
    ("s3://lake-bucket/lake", "s3://lake-bucket/lake"),
    ("S3://lake-bucket/lake/", "s3://lake-bucket/lake"),  # a scheme is case-insensitive
    ("s3a://lake-bucket/date=2026-01-01/v1.2_x", "s3://lake-bucket/date=2026-01-01/v1.2_x"),
    ("s3://lake.bucket-1", "s3://lake.bucket-1"),
])
def test_plain_s3_uris_are_taken(conf_dir: Path, uri: str, kept: str) -> None:
    assert load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_LAKE_URI": uri}).storage.lake_uri == kept


def test_local_paths_are_made_absolute_and_checked_as_such(conf_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_LAKE_URI": f"file://{tmp_path}/lake"}
                       ).storage.lake_uri == f"{tmp_path}/lake"
    spaced = tmp_path / "My Projects"
    spaced.mkdir()
    monkeypatch.chdir(spaced)  # a relative path under a folder with a space
    with pytest.raises(ConfigError, match="'storage.lake_uri' from environment: a space is not allowed"):
        load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_LAKE_URI": "lake"})


def test_a_data_dir_that_would_hold_such_a_lake_is_refused_unless_the_lake_is_elsewhere(
    conf_dir: Path, tmp_path: Path
) -> None:
    spaced = str(tmp_path / "my data")
    with pytest.raises(ConfigError) as info:
        load_config("dev", {"data_dir": spaced}, conf_dir=conf_dir, environ={})
    assert str(info.value).startswith("config key 'data_dir' from command line: the lake under it")
    assert "a space" in str(info.value) and "storage.lake_uri" in str(info.value)
    environ = {"LAKEHOUSE_LAKE_URI": "s3://lake-bucket/lake", "LAKEHOUSE_LANDING_URI": "s3://lake-bucket/sources"}
    assert load_config("dev", {"data_dir": spaced}, conf_dir=conf_dir, environ=environ).data_dir == Path(spaced)


def test_path_variables_are_taken_as_typed_not_as_yaml(conf_dir: Path) -> None:
    """YAML would read ` #2` as a comment (a lake silently elsewhere) and `a: b` as a mapping."""
    with pytest.raises(ConfigError, match="'storage.lake_uri' from environment: a space"):
        load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_LAKE_URI": "/tmp/lake #2"})
    with pytest.raises(ConfigError, match="'storage.lake_uri' from environment: .*':'"):
        load_config("dev", conf_dir=conf_dir, environ={"LAKEHOUSE_LAKE_URI": "/tmp/a: b"})
