"""`lakehouse monitor`: feature drift, score drift and realised performance of the champion, into
gold.model_monitoring (see that module for the columns and lakehouse/ml/features.py for labels)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import cast

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F
from sklearn.metrics import roc_auc_score

from lakehouse.arrowio import write_parquet_part
from lakehouse.config import Config
from lakehouse.gold.model_monitoring import SPEC as MONITORING
from lakehouse.ml import store
from lakehouse.ml.features import FEATURES, LABEL, with_model_features
from lakehouse.ml.score import champion
from lakehouse.ml.train import SERVING_REFERENCE, TRAINING_REFERENCE, load_frame, probabilities, training_frame
from lakehouse.quality.gate import QualityGate
from lakehouse.storage import Lake

EPSILON = 1e-4  # stands in for an empty bin, so PSI stays finite


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`: decile bins of the reference
    (edges deduplicated) plus one bin for missing values; sum((c - r) * ln(c / r))."""
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    known = reference[~np.isnan(reference)]
    edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1])) if known.size else np.array([])

    def shares(values: np.ndarray) -> np.ndarray:
        present = values[~np.isnan(values)]
        counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
        counts = np.append(counts, np.isnan(values).sum())
        return np.maximum(counts / max(len(values), 1), EPSILON)

    r, c = shares(reference), shares(current)
    return float(np.sum((c - r) * np.log(c / r)))


def status(value: float, warn: float, alert: float, higher_is_worse: bool = True) -> str:
    if higher_is_worse:
        return "ALERT" if value > alert else "WARN" if value > warn else "OK"
    return "ALERT" if value < alert else "WARN" if value < warn else "OK"


@dataclass(frozen=True)
class MonitorResult:
    rows: pd.DataFrame

    def describe(self) -> str:
        counts = self.rows["status"].value_counts().to_dict()
        flagged = self.rows[self.rows["status"] != "OK"]
        detail = ", ".join(
            f"{m} {v:.3f} {st}" for m, v, st in flagged[["metric", "value", "status"]].itertuples(index=False)
        )
        summary = f"{counts.get('OK', 0)} OK, {counts.get('WARN', 0)} WARN, {counts.get('ALERT', 0)} ALERT"
        return f"model monitoring: {summary}" + (f" ({detail})" if detail else "")


def _reference(config: Config, version: str) -> pd.DataFrame:
    """The customers the champion was trained to score, with its scores (the training set for a
    model logged without them)."""
    client = MlflowClient()
    run_id = str(client.get_model_version(config.ml.model_name, version).run_id)
    if SERVING_REFERENCE in {a.path for a in client.list_artifacts(run_id)}:
        return load_frame(run_id, SERVING_REFERENCE)
    return mlflow.load_table(TRAINING_REFERENCE, run_ids=[run_id])


def _realised_auc(config: Config, lake: Lake, model: PyFuncModel) -> tuple[float, dt.date] | None:
    row = lake.read("silver.orders").agg(F.max("order_date")).first()
    if row is None or row[0] is None:
        return None
    latest = row[0]
    cutoff = latest - dt.timedelta(days=config.ml.horizon_days)
    try:
        data = training_frame(config, lake, cutoff)
    except ValueError:
        return None  # labels have not matured for enough customers yet
    p = probabilities(model, data)
    return float(roc_auc_score(data[LABEL], p)), cutoff


def measure(config: Config, lake: Lake) -> pd.DataFrame:
    """This run's metrics, one row each (not yet written)."""
    ml = config.ml
    version, model = champion(config)
    reference = _reference(config, version)
    current = cast(pd.DataFrame, with_model_features(lake.read("gold.customer_features")).toPandas())
    as_of = current["as_of_date"].max() if len(current) else None
    rows = [("feature_drift", f"psi:{f}", psi(reference[f], current[f]), ml.psi_warn, ml.psi_alert) for f in FEATURES]
    if lake.exists("gold.customer_churn_scores"):
        scores = cast(pd.DataFrame, lake.read("gold.customer_churn_scores").select("churn_probability").toPandas())
        scores = scores["churn_probability"]
        rows.append(
            ("score_drift", "psi:churn_probability", psi(reference["score"], scores), ml.psi_warn, ml.psi_alert)
        )
    realised = _realised_auc(config, lake, model)
    if realised is not None:
        rows.append(("performance", f"roc_auc_realised:{realised[1]}", realised[0], ml.auc_warn, ml.auc_alert))
    frame = pd.DataFrame(rows, columns=["kind", "metric", "value", "warn_threshold", "alert_threshold"])
    frame["status"] = [
        status(v, w, a, higher_is_worse=k != "performance")
        for k, v, w, a in frame[["kind", "value", "warn_threshold", "alert_threshold"]].itertuples(index=False)
    ]
    frame["model_name"], frame["model_version"], frame["as_of_date"] = ml.model_name, version, as_of
    return frame


def monitor(config: Config, lake: Lake) -> MonitorResult:
    """Measure and append this run's rows to gold.model_monitoring (after the table's checks)."""
    store.connect(config)
    now = dt.datetime.now(dt.UTC)
    frame = measure(config, lake)
    run_id = f"monitor-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    frame["run_id"], frame["monitored_at"] = run_id, now.replace(tzinfo=None)
    gate = QualityGate(config, lake, run_id, now)
    with lake.staging() as stage:
        schema = MONITORING.declared_schema()
        write_parquet_part(frame.astype({"as_of_date": "object"}), schema, stage / "part-0.parquet")
        rows = lake.spark.read.schema(schema).parquet(str(stage))
        checks = gate.check("monitor", MONITORING, rows)
        lake.append(rows, MONITORING.name)
    gate.commit("monitor", MONITORING.name, checks)
    gate.flush()
    return MonitorResult(frame)
