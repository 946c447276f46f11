"""The checks one FX answer must pass before any of it lands (pure: no engine, no server)."""

from __future__ import annotations

import datetime as dt

from lakehouse.bronze.fx_rates import answer_checks

START, END = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


def _rates(*extra: dict) -> list[dict]:
    good = [{"date": d, "currency": c, "rate": 1.5} for d in ("2026-01-01", "2026-01-02") for c in ("EUR", "USD")]
    return good + list(extra)


def _failed(rates: list[dict]) -> dict[str, tuple]:
    return {c.rule: c.examples for c in answer_checks(rates, START, END, ["EUR", "USD"]) if not c.passed}


def test_a_whole_answer_passes() -> None:
    assert _failed(_rates()) == {}


def test_a_rate_twice_another_currency_or_another_day_fails_the_answer() -> None:
    twice = {"date": "2026-01-02", "currency": "USD", "rate": 3.0}
    assert _failed(_rates(twice)) == {"fx_answer_exact": ("2026-01-02 USD x2",)}
    assert _failed(_rates({"date": "2026-01-01", "currency": "XXX", "rate": 2.0})) == {
        "fx_answer_exact": ("2026-01-01 XXX",)}
    assert _failed(_rates({"date": "2026-13-45", "currency": "USD", "rate": 2.0})) == {
        "fx_answer_exact": ("2026-13-45 USD",)}
