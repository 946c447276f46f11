"""Which MLflow store a config's runs and models go to."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

from lakehouse.config import load_config
from lakehouse.ml import store


def _config(data_dir: Path):  # noqa: ANN202
    return load_config("test", overrides={"data_dir": str(data_dir)}, environ={})


def test_each_config_connects_to_its_own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = tmp_path / "first", tmp_path / "second"
    store.connect(_config(first))
    assert mlflow.get_tracking_uri() == f"sqlite:///{first.resolve()}/mlflow/mlflow.db"
    assert "MLFLOW_TRACKING_URI" not in os.environ  # MLflow exported it; it is not the user's choice
    store.connect(_config(second))  # a later config in the same process (a test, a notebook)
    assert mlflow.get_tracking_uri() == f"sqlite:///{second.resolve()}/mlflow/mlflow.db"
    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri()


def test_the_users_tracking_uri_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", chosen)
    for data_dir in (tmp_path / "first", tmp_path / "second"):
        store.connect(_config(data_dir))
        assert mlflow.get_tracking_uri() == chosen
    assert os.environ["MLFLOW_TRACKING_URI"] == chosen
