"""One typed, frozen configuration, loaded once at the entry point.

`conf/base.yaml` is overlaid by `conf/<env>.yaml`, then by `LAKEHOUSE_*` environment variables
(`LAKEHOUSE_DATA_DIR`, `LAKEHOUSE_ENGINE`, and `LAKEHOUSE_A__B__C` for the key `a.b.c`), then by
explicit overrides from the command line. An unknown key or a bad value is a `ConfigError` whose
one-line message names the key and where the value came from.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lakehouse.files import Location, uri_problem

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONF_DIR = PROJECT_ROOT / "conf"
ENV_PREFIX = "LAKEHOUSE_"
# Shorthands for the variables users set most; everything else uses the A__B__C form.
ENV_SHORTHANDS = {"DATA_DIR": "data_dir", "ENGINE": "engine.kind", "LAKE_URI": "storage.lake_uri",
                  "LANDING_URI": "sources.landing_uri"}
# Settings whose variables are taken as they are, not read as YAML.
ENV_VERBATIM = {"data_dir", "storage.lake_uri", "sources.landing_uri"}
# Variables that belong to other parts of the product, not to this config file.
ENV_IGNORED = {"API_KEYS", "CRM_URL", "CRM_TOKEN", "KAFKA_BOOTSTRAP", "CONF_DIR", "ENV",
               # scripts/test.sh's
               "TEST_ENGINE", "TEST_ENGINES", "TEST_SERIAL", "TEST_SPLIT", "TEST_STORE_DURATIONS",
               "TEST_SHARED_DIR"}


class ConfigError(ValueError):
    """A configuration value is unknown or invalid; the message names the key and its source."""


def _checked_uri(value: str | None) -> str | None:
    """A local path (made absolute) or an `s3://` URI (the scheme in lower case) that every engine
    takes as it is; anything else is a ValueError saying which character or part is wrong (never
    repeating a credential given in the URI)."""
    if not value:
        return None
    problem = uri_problem(value)
    if problem is None:
        location = Location(value)
        if not location.is_local:
            return str(location)
        value = str(location.local_path.expanduser().absolute())
        problem = uri_problem(value)  # the home folder or the working directory may hold a space
    if problem is not None:
        raise ValueError(problem)
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EngineConfig(_Frozen):
    kind: Literal["embedded", "spark", "connect"] = "embedded"
    connect_url: str | None = None
    spark_master: str | None = "local[2]"
    jars_dir: str | None = "jvm/target/jars"
    s3a_jars_dir: str | None = "jvm/s3a/target/jars"  # hadoop-aws + AWS SDK, added when the lake is on S3
    s3a_jars: Literal["auto", "always"] = "auto"  # always: also for a session that reaches S3 by itself
    # kind=connect: what serves connect_url (auto asks the server) and whether this machine reaches
    # the lake's files as the server does (null: when the server is on this machine)
    connect_server: Literal["auto", "sail", "spark"] = "auto"
    driver_shares_files: bool | None = None
    conf: dict[str, str] = Field(default_factory=dict)
    # Options for the driver JVMs the project starts (a local session, the Spark Connect server),
    # after the class archive's: e.g. ["-XX:TieredStopAtLevel=1"] for many short runs.
    java_options: list[str] = Field(default_factory=list)


class FxConfig(_Frozen):
    url: str | None = None
    timeout_seconds: float = Field(5.0, gt=0)
    attempts: int = Field(4, ge=1)
    backoff_seconds: float = Field(0.5, ge=0)


class SourcesConfig(_Frozen):
    app_db_url: str | None = None
    # Where clickstream, telemetry and targets files land: a local path or s3://bucket/prefix
    # (null: <data_dir>/sources). The app database stays `app_db_url`, FX an HTTP API.
    landing_uri: str | None = None

    @field_validator("landing_uri")
    @classmethod
    def _landing_uri(cls, value: str | None) -> str | None:
        return _checked_uri(value)
    # The app database's extract reads again this far behind its watermark, for changes committed
    # late with an older stamp; what bronze already holds is dropped.
    app_db_lookback_seconds: int = Field(600, ge=0)
    fx: FxConfig = FxConfig()


class StorageConfig(_Frozen):
    # Where the Delta tables live: a local path or s3://bucket/prefix (null: <data_dir>/lake).
    # Endpoint and credentials come from the standard AWS_* variables (lakehouse.files).
    lake_uri: str | None = None
    # On object storage the lake lock is a lease renewed while held (lakehouse.s3lock): a run that
    # died is taken over this long after its last renewal.
    lock_lease_seconds: float = Field(30.0, ge=3)

    @field_validator("lake_uri")
    @classmethod
    def _lake_uri(cls, value: str | None) -> str | None:
        return _checked_uri(value)


class PipelineConfig(_Frozen):
    run_date: dt.date | None = None
    cold_chain_limit_c: float = 8.0
    reading_interval_minutes: int = Field(5, gt=0)
    # A full rebuild of silver.events / silver.telemetry keeps first landings in buckets of keys of
    # about this many bronze rows each, one after the other, so its memory does not grow with history.
    rebuild_bucket_rows: int = Field(4_000_000, ge=1)
    # A full rebuild reading fewer rows than this (its inputs together) works beside the run's other
    # jobs; from this many on, alone (see `JobContext.alone`).
    alone_from_rows: int = Field(2_000_000, ge=0)
    # Jobs that do not depend on each other run at the same time, up to this many (1: one by one).
    parallel_jobs: int = Field(2, ge=1)


class QualityConfig(_Frozen):
    enabled: bool = True  # false skips the gate (reject rules still apply): only to measure what checks cost
    freshness_limit_hours: float = Field(48.0, gt=0)
    # Silver rejects a record dated more than this after the run's reference time (the end of
    # pipeline.run_date, else the run's start), or before earliest_event_date.
    max_future_skew_hours: float = Field(24.0, ge=0)
    earliest_event_date: dt.date = dt.date(2000, 1, 1)
    volume_drop_fraction: float = Field(0.5, gt=0, lt=1)
    volume_trailing_runs: int = Field(5, ge=1)
    data_docs: bool = True


class MlConfig(_Frozen):
    model_name: str = "churn"
    cutoff_date: dt.date | None = None  # training cut-off; null = latest order date - horizon_days
    horizon_days: int = Field(60, ge=1)  # churned = no order in this many days after the cut-off
    holdout_fraction: float = Field(0.25, gt=0, lt=1)
    min_auc_gain: float = Field(0.0, ge=0)  # a new model must beat the champion's holdout ROC AUC by more
    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.25, gt=0)
    auc_warn: float = Field(0.7, gt=0, le=1)
    auc_alert: float = Field(0.6, gt=0, le=1)
    reload_seconds: float = Field(5.0, gt=0)  # how often /predict checks where the champion alias points


class SegmentsConfig(_Frozen):
    vip_ltv_eur: float = Field(1000.0, ge=0)
    at_risk_probability: float = Field(0.6, ge=0, le=1)
    dormant_days: int = Field(60, ge=1)
    new_days: int = Field(30, ge=1)


class CrmConfig(_Frozen):
    batch_size: int = Field(200, ge=1)
    requests_per_second: float = Field(20.0, gt=0)  # the client's own limit (token bucket)
    attempts: int = Field(5, ge=1)
    backoff_seconds: float = Field(0.2, ge=0)
    max_retry_after_seconds: float = Field(30.0, ge=0)  # longest Retry-After honoured before giving up
    timeout_seconds: float = Field(10.0, gt=0)


class KafkaConfig(_Frozen):
    bootstrap: str | None = None  # host:port; LAKEHOUSE_KAFKA_BOOTSTRAP wins; null = the local broker
    until_idle_seconds: float = Field(5.0, gt=0)
    batch_records: int = Field(20_000, ge=1)  # most readings per micro-batch (embedded consumer)
    spark_batch_records: int = Field(100_000, ge=1)  # most readings per micro-batch on Apache Spark


class GeneratorConfig(_Frozen):
    start_date: dt.date = dt.date(2026, 1, 1)
    days: int = Field(30, ge=1)
    scale: float = Field(1.0, gt=0)
    seed: int = 42


class ServingConfig(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    sql_port: int = Field(15002, ge=0, le=65535)
    row_limit: int = Field(10_000, ge=1)
    sql_timeout_seconds: float = Field(10.0, gt=0)
    page_size: int = Field(100, ge=1)
    max_page_size: int = Field(1_000, ge=1)
    cache_entries: int = Field(512, ge=0)
    refresh_seconds: float = Field(2.0, gt=0)
    hidden_tables: tuple[str, ...] = ("gold.customer_segments",)
    sql_tls: bool = False  # TLS on the Spark SQL endpoint; a certificate is made when none is given
    sql_tls_cert: Path | None = None  # PEM certificate chain and key for the Spark SQL endpoint
    sql_tls_key: Path | None = None
    max_body_bytes: int = Field(1_048_576, ge=1)
    max_concurrent_queries: int = Field(4, ge=1)
    pg_port: int | None = Field(None, ge=0, le=65535)  # PostgreSQL wire-protocol endpoint; None = off
    pg_tls_cert: Path | None = None  # PEM certificate chain and key for it (needed off loopback)
    pg_tls_key: Path | None = None


class Config(_Frozen):
    env: str = "local"
    data_dir: Path = Path("data")
    engine: EngineConfig = EngineConfig()
    storage: StorageConfig = StorageConfig()
    sources: SourcesConfig = SourcesConfig()
    pipeline: PipelineConfig = PipelineConfig()
    generator: GeneratorConfig = GeneratorConfig()
    quality: QualityConfig = QualityConfig()
    ml: MlConfig = MlConfig()
    segments: SegmentsConfig = SegmentsConfig()
    crm: CrmConfig = CrmConfig()
    kafka: KafkaConfig = KafkaConfig()
    serving: ServingConfig = ServingConfig()

    @property
    def sources_dir(self) -> Path:
        return self.data_dir / "sources"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def lake(self) -> Location:
        """Where the Delta tables live (`storage.lake_uri`, else `<data_dir>/lake`)."""
        return Location(self.storage.lake_uri or self.lake_dir)

    @property
    def landing(self) -> Location:
        """Where landed files live (`sources.landing_uri`, else `<data_dir>/sources`)."""
        return Location(self.sources.landing_uri or self.sources_dir)

    @property
    def app_db_url(self) -> str:
        return self.sources.app_db_url or f"sqlite:///{self.sources_dir / 'app.db'}"

    @property
    def jars_dir(self) -> Path | None:
        return _project_path(self.engine.jars_dir)

    @property
    def s3a_jars_dir(self) -> Path | None:
        return _project_path(self.engine.s3a_jars_dir)


def _project_path(value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        # engine.conf is a free-form map of Spark settings: keep it as one leaf.
        if isinstance(value, Mapping) and dotted != "engine.conf":
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        suffix = name[len(ENV_PREFIX) :]
        if suffix in ENV_IGNORED:
            continue
        key = ENV_SHORTHANDS.get(suffix) or suffix.lower().replace("__", ".")
        # paths as typed: YAML would drop what follows ` #` as a comment and read `a: b` as a mapping
        overrides[key] = (value if key in ENV_VERBATIM else yaml.safe_load(value)) if value else None
    return overrides


def load_config(
    env: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    conf_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load base.yaml + <env>.yaml + LAKEHOUSE_* variables + overrides into a frozen Config."""
    environ = os.environ if environ is None else environ
    env = env or environ.get("LAKEHOUSE_ENV") or "local"
    hint = ""
    if conf_dir is None:
        # From a zip shipped with --py-files the package has no conf/ beside it: use the working dir's.
        fallback = DEFAULT_CONF_DIR if DEFAULT_CONF_DIR.is_dir() else Path.cwd() / "conf"
        given = environ.get("LAKEHOUSE_CONF_DIR")
        conf_dir = Path(given or fallback)
        hint = ("" if given else
                " (outside the project's folder, set LAKEHOUSE_CONF_DIR to a folder holding base.yaml and "
                "<env>.yaml, e.g. a copy of the project's conf/)")
    base_path, env_path = conf_dir / "base.yaml", conf_dir / f"{env}.yaml"
    if not base_path.is_file():
        raise ConfigError(f"no such file {base_path}: the settings every environment starts from{hint}")
    if not env_path.is_file():
        raise ConfigError(f"--env {env}: no such file {env_path}{hint}")

    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    layers: list[tuple[str, dict[str, Any]]] = [
        (str(base_path), _flatten(_read_yaml(base_path))),
        (str(env_path), _flatten(_read_yaml(env_path))),
        ("environment", _env_overrides(environ)),
        ("command line", {k: v for k, v in (overrides or {}).items() if v is not None}),
    ]
    spark_conf: dict[str, Any] = {}
    for source, flat in layers:
        for key, value in flat.items():
            if key == "engine.conf" and isinstance(value, Mapping):
                spark_conf.update(value)  # Spark settings add up across layers
                value = dict(spark_conf)
            _set_dotted(merged, key, value)
            origin[key] = source
    merged["env"] = env
    try:
        config = Config.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"config key '{key}' from {_source(origin, key)}: {message}") from None
    config = config.model_copy(update={"data_dir": config.data_dir.expanduser().absolute()})
    _check_default_locations(config, origin)
    return config


def _source(origin: Mapping[str, str], key: str) -> str:
    return next((src for k, src in origin.items() if key == k or key.startswith(f"{k}.")), "defaults")


def _check_default_locations(config: Config, origin: Mapping[str, str]) -> None:
    """The lake and the landing zone that `data_dir` holds when their own settings are not given
    must be paths the engines take as well (`lakehouse.files.uri_problem`)."""
    defaults = (("lake", config.storage.lake_uri, config.lake_dir, "storage.lake_uri"),
                ("landing zone", config.sources.landing_uri, config.sources_dir, "sources.landing_uri"))
    for what, given, folder, setting in defaults:
        problem = None if given else uri_problem(str(folder))
        if problem is not None:
            raise ConfigError(f"config key 'data_dir' from {_source(origin, 'data_dir')}: the {what} under it "
                              f"({folder}): {problem} (or set {setting})")
