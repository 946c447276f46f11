"""`lakehouse train`: fit the churn model, log it to MLflow, and move `champion` only if it wins.

The training set is built as of the cut-off (`lakehouse.ml.features`), split by a hash of the
customer id into train and holdout (stable across runs, so models trained on the same data are
compared on the same customers). The new model and the current champion are both scored on this
run's holdout; the alias `champion` moves to the new version only when its ROC AUC is higher by
more than `ml.min_auc_gain`. Otherwise the version is tagged `challenger`, with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from sklearn.calibration import CalibrationDisplay  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from lakehouse.config import Config  # noqa: E402
from lakehouse.ml import store  # noqa: E402
from lakehouse.ml.features import FEATURES, LABEL, build_training_set, with_model_features  # noqa: E402
from lakehouse.storage import Lake  # noqa: E402

log = logging.getLogger(__name__)
INPUTS = ("silver.orders", "silver.order_lines", "silver.events", "silver.customers")
CHAMPION = "champion"
# Types of our own pipeline that skops (MLflow's safe sklearn format) asks to be named as trusted.
TRUSTED_TYPES = ["numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


# Logged with every model: the training set's features and scores, and those of the customers the
# model is trained to score (gold.customer_features when it was trained), which monitoring compares
# today's with. The training set is as of the cut-off, `ml.horizon_days` behind: in a world that
# began a few months ago tenure, recency and browsing differ from today's by construction.
TRAINING_REFERENCE = "reference.json"
SERVING_REFERENCE = "serving_reference.parquet"  # Parquet: `log_table`'s JSON keeps 10 digits
SERVED_FEATURES = "gold.customer_features"


class NotEnoughData(ValueError):
    """The training set cannot support a model (named in the message)."""


@dataclass(frozen=True)
class TrainResult:
    version: str
    metrics: dict[str, float]
    champion: bool
    reason: str
    run_id: str

    def describe(self) -> str:
        role = "champion" if self.champion else "challenger"
        auc = self.metrics["roc_auc"]
        return f"churn model version {self.version}: holdout ROC AUC {auc:.3f}, {role} ({self.reason})"


def default_estimator() -> Pipeline:
    """Median imputation with missing-value indicators, then gradient-boosted trees."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("model", HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_depth=4, random_state=0)),
        ]
    )


def in_holdout(customer_id: int, fraction: float) -> bool:
    """Stable split: the same customer is always on the same side."""
    digest = hashlib.sha256(str(int(customer_id)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def cutoff_for(config: Config, lake: Lake) -> dt.date:
    if config.ml.cutoff_date:
        return config.ml.cutoff_date
    latest = lake.read("silver.orders").agg(F.max("order_date")).first()
    if not latest or latest[0] is None:
        raise NotEnoughData("silver.orders has no orders: run the pipeline first")
    return latest[0] - dt.timedelta(days=config.ml.horizon_days)


def training_frame(config: Config, lake: Lake, cutoff: dt.date) -> pd.DataFrame:
    orders, lines, events, customers = (lake.read(t) for t in INPUTS)
    built = build_training_set(orders, lines, events, customers, cutoff=cutoff, horizon_days=config.ml.horizon_days)
    data = cast(pd.DataFrame, built.toPandas())
    if len(data) < 50 or data[LABEL].nunique() < 2:
        raise NotEnoughData(
            f"{len(data)} customers with orders by the cut-off {cutoff}, labels {sorted(data[LABEL].unique())}: "
            "a model needs at least 50 customers and both outcomes (generate more days or set ml.cutoff_date)"
        )
    return data


def serving_population(lake: Lake) -> pd.DataFrame | None:
    """The features of every customer `lakehouse score` scores now (None before the first run)."""
    if not lake.exists(SERVED_FEATURES):
        return None
    frame = cast(pd.DataFrame, with_model_features(lake.read(SERVED_FEATURES)).toPandas())
    return frame.sort_values("customer_id", ignore_index=True)[FEATURES]


def _log_frame(frame: pd.DataFrame, name: str) -> None:
    """Log `frame` as a Parquet artifact of the active run, every value exact."""
    with tempfile.TemporaryDirectory(prefix="churn-reference-") as folder:
        path = Path(folder) / name
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def load_frame(run_id: str, name: str) -> pd.DataFrame:
    """A frame logged by `_log_frame`."""
    with tempfile.TemporaryDirectory(prefix="churn-reference-") as folder:
        return pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, dst_path=folder))


def probabilities(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """P(churned) from a fitted estimator or a pyfunc model logged with predict_proba."""
    raw = model.predict_proba(frame[FEATURES]) if hasattr(model, "predict_proba") else model.predict(frame[FEATURES])
    values = np.asarray(raw, dtype="float64")
    return values[:, 1] if values.ndim == 2 else values


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "brier": float(np.mean((p - y) ** 2)),
        "churn_rate": float(np.mean(y)),
    }


def _calibration_figure(y: np.ndarray, p: np.ndarray):  # noqa: ANN202
    figure, axis = plt.subplots(figsize=(5, 5))
    CalibrationDisplay.from_predictions(y, p, n_bins=10, strategy="quantile", ax=axis, name="churn")
    axis.set_title("Calibration on the holdout")
    return figure


def _champion_auc(client: MlflowClient, name: str, holdout: pd.DataFrame) -> tuple[str, float] | None:
    """The current champion's version and its ROC AUC on `holdout`; None when there is none."""
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None
    model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    return current.version, float(roc_auc_score(holdout[LABEL], probabilities(model, holdout)))


def _gate(client: MlflowClient, config: Config, version: str, auc: float, holdout: pd.DataFrame) -> tuple[bool, str]:
    name = config.ml.model_name
    current = _champion_auc(client, name, holdout)
    if current is None:
        winner, reason = True, "first model"
    else:
        old_version, old_auc = current
        winner = auc > old_auc + config.ml.min_auc_gain
        verdict = "beats" if winner else "does not beat"
        reason = f"holdout ROC AUC {auc:.4f} {verdict} champion v{old_version}'s {old_auc:.4f}"
        if config.ml.min_auc_gain:
            reason += f" by more than {config.ml.min_auc_gain}"
    if winner:
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "role", "champion")
    else:
        client.set_model_version_tag(name, version, "role", "challenger")
    client.set_model_version_tag(name, version, "gate", reason)
    return winner, reason


def train(config: Config, lake: Lake, estimator: Any = None) -> TrainResult:
    """Fit, log and register a churn model; move `champion` only if it wins on the holdout."""
    store.connect(config)
    cutoff = cutoff_for(config, lake)
    data = training_frame(config, lake, cutoff)
    mask = data["customer_id"].map(lambda c: in_holdout(c, config.ml.holdout_fraction)).to_numpy(bool)
    fit, holdout = data[~mask], data[mask]
    model = estimator if estimator is not None else default_estimator()
    model.fit(fit[FEATURES], fit[LABEL])
    p = probabilities(model, holdout)
    metrics = evaluate(holdout[LABEL].to_numpy(), p)
    with mlflow.start_run(run_name=f"churn-{cutoff}") as run:
        mlflow.log_params(
            {
                "cutoff_date": str(cutoff),
                "horizon_days": config.ml.horizon_days,
                "estimator": type(model).__name__,
                "features": ",".join(FEATURES),
                "train_rows": len(fit),
                "holdout_rows": len(holdout),
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.set_tags({f"delta_version.{t}": str(lake.version(t)) for t in INPUTS})
        mlflow.log_figure(_calibration_figure(holdout[LABEL].to_numpy(), p), "calibration.png")
        reference = data[FEATURES].assign(score=probabilities(model, data))
        mlflow.log_table(reference, TRAINING_REFERENCE)
        serving = serving_population(lake)
        if serving is not None:  # what monitoring compares today's customers and scores with
            _log_frame(serving.assign(score=probabilities(model, serving)), SERVING_REFERENCE)
        example = fit[FEATURES].head(5)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, probabilities(model, example)),
            input_example=example,
            registered_model_name=config.ml.model_name,
            pyfunc_predict_fn="predict_proba",
            skops_trusted_types=TRUSTED_TYPES,
        )
    plt.close("all")
    version = str(info.registered_model_version)
    champion, reason = _gate(MlflowClient(), config, version, metrics["roc_auc"], holdout)
    log.info("trained %s v%s: %s", config.ml.model_name, version, reason)
    return TrainResult(version, metrics, champion, reason, run.info.run_id)
