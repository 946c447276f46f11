"""The churn model end to end on a generated world: labels against the app database, the champion
gate, scores with lineage against direct pyfunc predictions, monitoring, /predict behind the
API's keys, and `mlflow models serve`."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import uvicorn
from deltalake import DeltaTable
from mlflow.tracking import MlflowClient
from sklearn.dummy import DummyClassifier
from sklearn.metrics import log_loss, roc_auc_score

from lakehouse.config import Config
from lakehouse.daemons import free_port
from lakehouse.ml import store
from lakehouse.ml.features import FEATURES, LABEL
from lakehouse.ml.monitor import monitor
from lakehouse.ml.score import score
from lakehouse.ml.train import cutoff_for, in_holdout, train, training_frame
from lakehouse.s3server import S3Server
from lakehouse.storage import Lake
from tests.integration import lakes

pytestmark = pytest.mark.integration


class World:
    def __init__(self, config: Config, lake: Lake, results: list) -> None:
        self.config, self.lake, self.results = config, lake, results


@pytest.fixture(scope="module")
def world(built_world: Config, spark, tmp_path_factory: pytest.TempPathFactory) -> World:
    from lakehouse.config import load_config

    target = tmp_path_factory.mktemp("ml") / "world"
    shutil.copytree(built_world.data_dir, target)
    config = load_config("test", overrides={"engine.kind": built_world.engine.kind, "data_dir": str(target)},
                         environ={})
    lake = Lake(spark, config.lake_dir)
    lake.register_all()
    # A naive model first (champion: there is none), then a real one (beats it), then naive again.
    results = [train(config, lake, DummyClassifier(strategy="prior")), train(config, lake),
               train(config, lake, DummyClassifier(strategy="prior"))]
    return World(config, lake, results)


def _champion_model(world: World):  # noqa: ANN202
    store.connect(world.config)
    return mlflow.pyfunc.load_model("models:/churn@champion")


def _p(model, frame: pd.DataFrame) -> np.ndarray:  # noqa: ANN001
    values = np.asarray(model.predict(frame[FEATURES].astype("float64")), dtype=float)
    return values[:, 1] if values.ndim == 2 else values


def test_labels_follow_the_contract_from_the_app_database(world: World) -> None:
    cutoff = cutoff_for(world.config, world.lake)
    end = cutoff + dt.timedelta(days=60)
    with sqlite3.connect(world.config.sources_dir / "app.db") as db:
        orders = pd.read_sql("SELECT customer_id, substr(order_ts, 1, 10) AS day FROM orders", db)
    orders["day"] = pd.to_datetime(orders["day"]).dt.date
    before = set(orders.loc[orders["day"] <= cutoff, "customer_id"])
    after = set(orders.loc[(orders["day"] > cutoff) & (orders["day"] <= end), "customer_id"])
    data = training_frame(world.config, world.lake, cutoff)
    expected = {c: int(c not in after) for c in before}
    got = dict(zip(data["customer_id"], data[LABEL], strict=True))
    assert set(got) <= set(expected) and len(got) >= 0.95 * len(expected)  # erased customers may be gone
    assert {c: expected[c] for c in got} == got


def test_the_model_beats_a_naive_baseline_on_the_holdout(world: World) -> None:
    data = training_frame(world.config, world.lake, cutoff_for(world.config, world.lake))
    holdout = data[data["customer_id"].map(lambda c: in_holdout(c, world.config.ml.holdout_fraction))]
    p = _p(_champion_model(world), holdout)
    y = holdout[LABEL].to_numpy()
    prior = np.full(len(y), data[LABEL].mean())
    assert roc_auc_score(y, p) > 0.75
    assert log_loss(y, np.clip(p, 1e-6, 1 - 1e-6)) < log_loss(y, prior)


def test_the_champion_gate_moves_only_for_a_better_model(world: World) -> None:
    naive, good, naive_again = world.results
    assert (naive.champion, good.champion, naive_again.champion) == (True, True, False)
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("churn", "champion").version) == good.version
    tags = client.get_model_version("churn", naive_again.version).tags
    assert tags["role"] == "challenger" and "does not beat" in tags["gate"]
    run = client.get_run(good.run_id)
    assert {"roc_auc", "pr_auc", "log_loss"} <= set(run.data.metrics)
    assert run.data.tags["delta_version.silver.orders"] == str(world.lake.version("silver.orders"))
    artifacts = {a.path for a in client.list_artifacts(good.run_id)}
    assert {"calibration.png", "reference.json", "serving_reference.parquet"} <= artifacts


def test_scores_carry_lineage_and_match_direct_predictions(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the champion's files are fetched to
    result = score(world.config, world.lake)
    assert list(tmp_path.iterdir()) == []  # nothing of the champion's download is left behind
    scores = DeltaTable(str(world.lake.path("gold.customer_churn_scores"))).to_pandas()
    features = DeltaTable(str(world.lake.path("gold.customer_features"))).to_pandas()
    assert len(scores) == len(features) == result.customers
    assert set(scores["model_version"]) == {world.results[1].version}
    assert set(scores["model_name"]) == {"churn"}
    assert set(scores["feature_table_version"]) == {world.lake.version("gold.customer_features")}
    assert scores["scored_at"].notna().all() and scores["churn_probability"].between(0, 1).all()
    _assert_direct_predictions(world, scores, features)


def _assert_direct_predictions(world: World, scores: pd.DataFrame, features: pd.DataFrame) -> None:
    """The first customers' scores are the champion's own predictions on their features."""
    sample = features.sort_values("customer_id").head(8).copy()
    sample["tenure_days"] = (pd.to_datetime(sample["as_of_date"]) - pd.to_datetime(sample["first_order_date"])).dt.days
    direct = dict(zip(sample["customer_id"], _p(_champion_model(world), sample), strict=True))
    got = scores.set_index("customer_id").loc[list(direct), "churn_probability"]
    assert np.allclose(got.to_numpy(), list(direct.values()), atol=1e-9)


def test_customers_with_missing_features_are_scored(world: World) -> None:
    from lakehouse.ml.api import Predictor, PredictRequest

    predictor = Predictor(world.config)
    empty = predictor.predict(PredictRequest(features={}))
    partial = predictor.predict(PredictRequest(features={"orders_count": 3.0, "sessions_30d": None}))
    assert 0 <= empty["churn_probability"] <= 1 and 0 <= partial["churn_probability"] <= 1
    with pytest.raises(ValueError, match="unknown features"):
        PredictRequest(features={"shoe_size": 44.0})


def test_monitor_records_drift_and_realised_performance(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    score(world.config, world.lake)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = monitor(world.config, world.lake)
    assert list(tmp_path.iterdir()) == []
    rows = DeltaTable(str(world.lake.path("gold.model_monitoring"))).to_pandas()
    mine = rows[rows["run_id"] == result.rows["run_id"].iloc[0]]
    assert set(mine["kind"]) == {"feature_drift", "score_drift", "performance"}
    assert len(mine[mine["kind"] == "feature_drift"]) == len(FEATURES)
    assert set(mine["status"]) <= {"OK", "WARN", "ALERT"}
    # nothing changed since the champion was trained: today's customers and scores are those it
    # was trained to score (the training set, 60 days behind, would differ by construction)
    drift = mine[mine["kind"] != "performance"]
    assert (drift["value"].abs() < 1e-9).all() and set(drift["status"]) == {"OK"}, drift[["metric", "value"]]
    performance = mine[mine["kind"] == "performance"].iloc[0]
    assert performance["value"] > 0.75 and performance["status"] == "OK"


def test_scoring_and_monitoring_with_the_lake_on_s3(
    world: World, spark, engine: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The world's lake copied to the project's S3 server: the champion (MLflow stays local) scores
    every customer there, the engine staging and writing on S3, and monitoring appends its rows."""
    lakes.use_s3(spark, engine, s3_server, monkeypatch)
    lake_dir = lakes.lake_on_s3(world.config, s3_server, "ml")
    config = lakes.config_on_s3(world.config, lake_dir)
    lake = Lake(spark, config.lake)
    result = score(config, lake)
    scores = lakes.table(lake_dir / "gold" / "customer_churn_scores").to_pandas()
    features = lakes.table(lake_dir / "gold" / "customer_features").to_pandas()
    assert len(scores) == len(features) == result.customers
    assert set(scores["model_version"]) == {world.results[1].version}
    assert set(scores["feature_table_version"]) == {lakes.table(lake_dir / "gold" / "customer_features").version()}
    _assert_direct_predictions(world, scores, features)
    monitored = monitor(config, lake)
    rows = lakes.table(lake_dir / "gold" / "model_monitoring").to_pandas()
    mine = rows[rows["run_id"] == monitored.rows["run_id"].iloc[0]]
    assert set(mine["kind"]) == {"feature_drift", "score_drift", "performance"}


@pytest.fixture(scope="module")
def api(world: World) -> Iterator[str]:
    from lakehouse.ml.api import build_router
    from lakehouse.serving.app import create_app

    app = create_app(world.config, api_keys=["test-key"], routers=[build_router(world.config)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{base}/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


def test_predict_needs_a_key_and_answers_with_the_champion(world: World, api: str) -> None:
    customer = int(DeltaTable(str(world.lake.path("gold.customer_features"))).to_pandas()["customer_id"].min())
    assert httpx.post(f"{api}/predict", json={"customer_id": customer}).status_code == 401
    wrong = httpx.post(f"{api}/predict", json={"customer_id": customer}, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 403
    ok = httpx.post(f"{api}/predict", json={"customer_id": customer}, headers={"Authorization": "Bearer test-key"})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["model_version"] == world.results[1].version
    direct = _p(_champion_model(world), pd.DataFrame([body["features"]]))[0]
    assert body["churn_probability"] == pytest.approx(direct, abs=1e-9)
    missing = httpx.post(f"{api}/predict", json={"customer_id": -1}, headers={"Authorization": "Bearer test-key"})
    assert missing.status_code == 404


def test_mlflow_models_serve_answers_with_the_champion(world: World, tmp_path: Path) -> None:
    port = free_port()
    venv_bin = str(Path(sys.executable).parent)  # mlflow starts `uvicorn` from PATH, as in an activated venv
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.tracking_uri(world.config),
           "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
    mlflow_cli = str(Path(venv_bin) / "mlflow")
    cmd = [mlflow_cli, "models", "serve", "-m", "models:/churn@champion", "--env-manager", "local",
           "-p", str(port), "-h", "127.0.0.1"]
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                if httpx.get(f"{base}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.25)
        else:
            pytest.fail(f"mlflow models serve did not start: {(tmp_path / 'serve.log').read_text()[-2000:]}")
        rows = pd.DataFrame([{f: float(i + 1) for f in FEATURES} for i in range(3)])
        payload = {"dataframe_split": {"columns": FEATURES, "data": rows.to_numpy().tolist()}}
        answer = httpx.post(f"{base}/invocations", json=payload, timeout=30)
        assert answer.status_code == 200, answer.text
        served = np.asarray(answer.json()["predictions"], dtype=float)
        served = served[:, 1] if served.ndim == 2 else served
        assert np.allclose(served, _p(_champion_model(world), rows), atol=1e-9)
    finally:
        process.terminate()
        process.wait(timeout=20)
