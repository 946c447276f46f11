"""`POST /predict`: real-time churn scores from the champion model, for the serving API.

By `customer_id` (features read from the latest gold.customer_features through delta-rs), or
with a feature payload (missing features allowed: the model imputes them). The model behind the
`champion` alias is reloaded when the alias moves; where it points is checked at most every
`ml.reload_seconds`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import mlflow
import pandas as pd
from fastapi import APIRouter, HTTPException
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, model_validator

from lakehouse.config import Config
from lakehouse.deltalog import delta_table, delta_version
from lakehouse.ml import store
from lakehouse.ml.features import FEATURES
from lakehouse.ml.train import CHAMPION, probabilities
from lakehouse.serving.errors import error_responses


class PredictRequest(BaseModel):
    customer_id: int | None = None
    features: dict[str, float | None] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.customer_id is None) == (self.features is None):
            raise ValueError("give either customer_id or features")
        unknown = set(self.features or {}) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {FEATURES}")
        return self


class Predictor:
    """The champion model, reloaded when the alias moves (thread-safe)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._model: Any = None
        self._version: str | None = None
        self._checked = 0.0

    def current(self) -> tuple[Any, str]:
        with self._lock:
            if self._model is None or time.monotonic() - self._checked > self.config.ml.reload_seconds:
                store.connect(self.config)
                name = self.config.ml.model_name
                try:
                    version = MlflowClient().get_model_version_by_alias(name, CHAMPION).version
                except mlflow.exceptions.MlflowException:
                    raise HTTPException(503, f"model '{name}' has no champion yet: run `lakehouse train`") from None
                if version != self._version:
                    self._model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
                    self._version = str(version)
                self._checked = time.monotonic()
            return self._model, str(self._version)

    def features_of(self, customer_id: int) -> dict[str, float | None]:
        path = self.config.lake / "gold" / "customer_features"
        if delta_version(path) is None:
            raise HTTPException(404, "gold.customer_features does not exist yet")
        rows = delta_table(path).to_pandas(filters=[("customer_id", "=", customer_id)])
        if rows.empty:
            raise HTTPException(404, f"customer {customer_id} is not in gold.customer_features")
        row = rows.iloc[0]
        tenure = (row["as_of_date"] - row["first_order_date"]).days
        values = {f: row.get(f) for f in FEATURES if f != "tenure_days"} | {"tenure_days": tenure}
        return {k: None if pd.isna(v) else float(v) for k, v in values.items()}

    def predict(self, request: PredictRequest) -> dict[str, Any]:
        features = self.features_of(request.customer_id) if request.customer_id is not None else request.features
        frame = pd.DataFrame([{f: (features or {}).get(f) for f in FEATURES}], dtype="float64")
        model, version = self.current()
        return {
            "customer_id": request.customer_id,
            "churn_probability": float(probabilities(model, frame)[0]),
            "model_name": self.config.ml.model_name,
            "model_version": version,
            "features": features,
        }


def build_router(config: Config) -> APIRouter:
    """The /predict route (the serving app puts its key check in front)."""
    router = APIRouter(tags=["model"])
    predictor = Predictor(config)

    @router.post("/predict", responses=error_responses(404, 413, 503))
    def predict(request: PredictRequest) -> dict[str, Any]:
        """P(no order in the next 60 days) from the champion model, with the version that said it."""
        return predictor.predict(request)

    return router
