"""`lakehouse score`: every customer in gold.customer_features scored by `models:/churn@champion`,
on the engine (mapInPandas), into gold.customer_churn_scores.

The champion is fetched and loaded once, on the driver, from a temporary folder removed right
after; the loaded model travels to the workers inside the mapInPandas function (about 110 kB), so
they need neither the tracking store nor a shared folder (JVM Python workers on a cluster and
Sail's UDF runner alike), only mlflow and scikit-learn. The function refers to no module of this
package, so workers need not have it installed.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.clock import to_engine
from lakehouse.config import Config
from lakehouse.gold.customer_churn_scores import SPEC as SCORES
from lakehouse.ml import store
from lakehouse.ml.features import FEATURES, with_model_features
from lakehouse.ml.train import CHAMPION
from lakehouse.quality.gate import QualityGate
from lakehouse.storage import Lake

FEATURE_TABLE = "gold.customer_features"


class NoChampion(LookupError):
    """No model version holds the champion alias yet."""


@dataclass(frozen=True)
class ScoreResult:
    customers: int
    model_version: str
    feature_table_version: int

    def describe(self) -> str:
        return (
            f"scored {self.customers:,} customers with churn v{self.model_version} "
            f"(gold.customer_features version {self.feature_table_version}) into {SCORES.name}"
        )


def champion(config: Config) -> tuple[str, PyFuncModel]:
    """(version, loaded model) of the champion; its downloaded files are removed once it is loaded."""
    store.connect(config)
    name = config.ml.model_name
    try:
        version = MlflowClient().get_model_version_by_alias(name, CHAMPION).version
    except mlflow.exceptions.MlflowException:
        raise NoChampion(f"model '{name}' has no '{CHAMPION}' version yet: run `lakehouse train` first") from None
    with tempfile.TemporaryDirectory(prefix="churn-model-") as target:
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=target)
        return str(version), mlflow.pyfunc.load_model(path)


def score_partitions(model: PyFuncModel):  # noqa: ANN201 - the mapInPandas function
    """A mapInPandas function: P(churned) per row; the model is pickled with the function."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            values = np.asarray(model.predict(batch[FEATURES].astype("float64")), dtype="float64")
            proba = values[:, 1] if values.ndim == 2 else values
            yield pd.DataFrame({"customer_id": batch["customer_id"], "churn_probability": proba})

    return run


def build_scores(
    features: DataFrame, model: PyFuncModel, model_name: str, version: str, scored_at: dt.datetime, table_version: int
) -> DataFrame:
    """gold.customer_features rows → gold.customer_churn_scores rows (pure)."""
    rows = with_model_features(features)
    scored = rows.mapInPandas(score_partitions(model), "customer_id long, churn_probability double")
    dated = scored.join(rows.select("customer_id", "as_of_date"), "customer_id")
    return dated.select(
        "customer_id",
        "churn_probability",
        F.lit(model_name).alias("model_name"),
        F.lit(version).alias("model_version"),
        F.lit(to_engine(scored_at)).cast("timestamp").alias("scored_at"),
        F.lit(table_version).cast("long").alias("feature_table_version"),
        F.col("as_of_date").cast("date").alias("as_of_date"),
    )


def score(config: Config, lake: Lake) -> ScoreResult:
    """Score every current customer with the champion; replace gold.customer_churn_scores."""
    version, model = champion(config)
    table_version = lake.version(FEATURE_TABLE)
    if table_version is None:
        raise NoChampion(f"{FEATURE_TABLE} does not exist yet: run the pipeline first")
    now = dt.datetime.now(dt.UTC)
    result = build_scores(lake.read(FEATURE_TABLE), model, config.ml.model_name, version, now, table_version)
    gate = QualityGate(config, lake, f"score-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", now)
    with lake.staging() as stage:
        rows = gate.stage(result, stage, "scores")
        checks = gate.check("score", SCORES, rows)
        lake.overwrite(rows, SCORES.name, SCORES.partition_by)
    gate.commit("score", SCORES.name, checks)
    gate.flush()
    return ScoreResult(lake.row_count(SCORES.name), version, table_version)
