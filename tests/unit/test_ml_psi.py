"""Population stability index against an independent recomputation."""

from __future__ import annotations

import math

import numpy as np

from lakehouse.ml.monitor import psi, status


def _psi_by_hand(reference: list[float], current: list[float], edges: list[float]) -> float:
    def shares(values: list[float]) -> list[float]:
        bins = [0] * (len(edges) + 2)
        for v in values:
            if math.isnan(v):
                bins[-1] += 1
            else:
                bins[sum(1 for e in edges if v >= e)] += 1
        return [max(b / len(values), 1e-4) for b in bins]

    r, c = shares(reference), shares(current)
    return sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c, strict=True))


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(0, 1, 5000)
    assert psi(reference, reference) == 0.0
    assert psi(reference, rng.normal(0, 1, 5000)) < 0.02
    assert psi(reference, rng.normal(1, 1, 5000)) > 0.25


def test_psi_matches_a_hand_computation_with_missing_values() -> None:
    reference = [float(v) for v in range(1, 101)] + [float("nan")] * 10
    current = [float(v) for v in range(30, 130)] + [float("nan")] * 40
    edges = list(np.quantile(np.arange(1, 101, dtype=float), np.linspace(0, 1, 11)[1:-1]))
    assert psi(np.array(reference), np.array(current)) == pytest_approx(_psi_by_hand(reference, current, edges))


def pytest_approx(value: float):  # noqa: ANN201
    import pytest

    return pytest.approx(value, rel=1e-12)


def test_status_thresholds() -> None:
    assert [status(v, 0.1, 0.25) for v in (0.05, 0.2, 0.3)] == ["OK", "WARN", "ALERT"]
    assert [status(v, 0.7, 0.6, higher_is_worse=False) for v in (0.8, 0.65, 0.5)] == ["OK", "WARN", "ALERT"]
