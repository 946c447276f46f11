"""`lakehouse train`, `lakehouse score`, `lakehouse monitor`."""

from __future__ import annotations

import typer

from lakehouse.console import console, err, need_extras, state


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


def train() -> None:
    """Train the churn model as of the cut-off; it becomes champion only if it beats the current one."""
    need_extras("lakehouse train", "ml")
    from lakehouse.ml.train import NotEnoughData
    from lakehouse.ml.train import train as run

    try:
        with state.exclusive():
            result = run(state.config, state.lake())
    except NotEnoughData as exc:
        _fail(exc)
        return
    console.print(result.describe(), highlight=False)
    console.print("  " + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items()), highlight=False)


def score() -> None:
    """Score every customer with the champion model into gold.customer_churn_scores."""
    need_extras("lakehouse score", "ml")
    from lakehouse.ml.score import NoChampion
    from lakehouse.ml.score import score as run

    try:
        with state.exclusive():
            console.print(run(state.config, state.lake()).describe(), highlight=False)
    except NoChampion as exc:
        _fail(exc)


def monitor() -> None:
    """Feature drift, score drift and realised performance of the champion into gold.model_monitoring."""
    need_extras("lakehouse monitor", "ml")
    from lakehouse.ml.monitor import monitor as run
    from lakehouse.ml.score import NoChampion

    try:
        with state.exclusive():
            console.print(run(state.config, state.lake()).describe(), highlight=False, soft_wrap=True)
    except NoChampion as exc:
        _fail(exc)
