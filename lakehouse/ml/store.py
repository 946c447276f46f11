"""Where MLflow keeps runs and models: under the data directory unless MLFLOW_TRACKING_URI says
otherwise. `mlflow ui --backend-store-uri sqlite:///<data_dir>/mlflow/mlflow.db` opens it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mlflow

from lakehouse.config import Config

EXPERIMENT = "churn"
for noisy in ("mlflow", "alembic", "alembic.runtime.migration"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


def mlflow_dir(config: Config) -> Path:
    return (config.data_dir / "mlflow").resolve()


def tracking_uri(config: Config) -> str:
    """MLFLOW_TRACKING_URI, or a SQLite store under `<data_dir>/mlflow`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{mlflow_dir(config) / 'mlflow.db'}"


def connect(config: Config) -> str:
    """Point this process's MLflow client at the project's store and experiment; the experiment id."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow_dir(config).mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(config)
    users = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow also exports the URI to the environment (for subprocesses). Left there, it would read
    # as the user's choice, and a later config in this process would use this store, not its own.
    if users is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=(mlflow_dir(config) / "artifacts").as_uri())
    return mlflow.set_experiment(EXPERIMENT).experiment_id
