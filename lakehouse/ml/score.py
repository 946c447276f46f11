"""`lakehouse score`: every customer in gold.customer_features scored by `models:/churn@champion`,
on the engine (mapInPandas: each partition loads the model once), into gold.customer_churn_scores.

The champion's files are fetched once to a local folder; workers load the model from there, so
they need no access to the tracking store (JVM Python workers and Sail's UDF runner alike).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.gold import customer_churn_scores as scores_table
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
            f"(gold.customer_features version {self.feature_table_version}) into {scores_table.TABLE}"
        )


def champion(config: Config) -> tuple[str, str]:
    """(version, local path of its files) of the champion model."""
    store.connect(config)
    name = config.ml.model_name
    try:
        version = MlflowClient().get_model_version_by_alias(name, CHAMPION).version
    except mlflow.exceptions.MlflowException:
        raise NoChampion(f"model '{name}' has no '{CHAMPION}' version yet: run `lakehouse train` first") from None
    target = tempfile.mkdtemp(prefix="churn-model-")
    path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=target)
    return str(version), path


def score_partitions(model_path: str):  # noqa: ANN201 - the mapInPandas function
    """A mapInPandas function: P(churned) per row, the model loaded once per partition."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = mlflow.pyfunc.load_model(model_path)
        for batch in batches:
            raw = model.predict(batch[FEATURES].astype("float64"))
            values = raw.to_numpy() if hasattr(raw, "to_numpy") else raw
            proba = values[:, 1] if getattr(values, "ndim", 1) == 2 else values
            yield pd.DataFrame({"customer_id": batch["customer_id"], "churn_probability": proba.astype("float64")})

    return run


def build_scores(
    features: DataFrame, model_path: str, model_name: str, version: str, scored_at: dt.datetime, table_version: int
) -> DataFrame:
    """gold.customer_features rows → gold.customer_churn_scores rows (pure apart from the model files)."""
    rows = with_model_features(features)
    scored = rows.mapInPandas(score_partitions(model_path), "customer_id long, churn_probability double")
    dated = scored.join(rows.select("customer_id", "as_of_date"), "customer_id")
    return dated.select(
        "customer_id",
        "churn_probability",
        F.lit(model_name).alias("model_name"),
        F.lit(version).alias("model_version"),
        F.lit(scored_at.replace(tzinfo=None)).cast("timestamp").alias("scored_at"),
        F.lit(table_version).cast("long").alias("feature_table_version"),
        F.col("as_of_date").cast("date").alias("as_of_date"),
    )


def score(config: Config, lake: Lake) -> ScoreResult:
    """Score every current customer with the champion; replace gold.customer_churn_scores."""
    version, path = champion(config)
    table_version = lake.version(FEATURE_TABLE)
    if table_version is None:
        raise NoChampion(f"{FEATURE_TABLE} does not exist yet: run the pipeline first")
    now = dt.datetime.now(dt.UTC)
    result = build_scores(lake.read(FEATURE_TABLE), path, config.ml.model_name, version, now, table_version)
    gate = QualityGate(config, lake, f"score-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", now)
    with lake.staging() as stage:
        rows = gate.stage(result, stage, "scores")
        checks = gate.check("score", scores_table, rows)
        lake.overwrite(rows, scores_table.TABLE, scores_table.PARTITION_BY)
    gate.commit("score", scores_table.TABLE, checks)
    gate.flush()
    return ScoreResult(lake.row_count(scores_table.TABLE), version, table_version)
