"""The run's reference time and the event times silver accepts, from the configuration."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.config import ConfigError, load_config
from lakehouse.quality.event_time import TimeBounds, bind_time_rules, in_future, reference_time, too_early
from lakehouse.quality.rules import Rule, first_failing_rule

STARTED = dt.datetime(2026, 12, 6, 17, 30, tzinfo=dt.UTC)


def test_the_reference_is_the_end_of_the_run_date_else_the_start_of_the_run() -> None:
    assert reference_time(dt.date(2026, 4, 30), STARTED) == dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert reference_time(None, STARTED) == STARTED
    paris = dt.timezone(dt.timedelta(hours=1))
    assert reference_time(None, dt.datetime(2026, 12, 6, 18, 30, tzinfo=paris)) == STARTED


def test_bounds_come_from_the_configuration() -> None:
    default = TimeBounds.of_run(load_config("test", environ={}), STARTED)
    assert default == TimeBounds(
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 7, 17, 30, tzinfo=dt.UTC)
    )
    replay = load_config("test", {"pipeline.run_date": "2026-04-30", "quality.max_future_skew_hours": 2,
                                  "quality.earliest_event_date": "2020-01-01"}, environ={})
    assert TimeBounds.of_run(replay, STARTED) == TimeBounds(
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC)
    )


@pytest.mark.parametrize(
    ("key", "value"), [("quality.max_future_skew_hours", -1), ("quality.earliest_event_date", "sometime")]
)
def test_a_bad_bound_names_its_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"config key '{key}' from command line"):
        load_config("test", {key: value}, environ={})


def test_rules_are_bound_to_the_run_and_an_unbound_one_is_refused() -> None:
    rules = [Rule("x_missing", "x IS NULL"), Rule("x_in_future", in_future("x")), Rule("x_too_early", too_early("x"))]
    bounds = TimeBounds(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC))
    assert bind_time_rules(rules, bounds) == [
        Rule("x_missing", "x IS NULL"),
        Rule("x_in_future", "x > TIMESTAMP '2026-05-01 02:00:00'"),
        Rule("x_too_early", "x < TIMESTAMP '2000-01-01 00:00:00'"),
    ]
    with pytest.raises(ValueError, match="rule x_in_future: {latest_event_time} is not set"):
        first_failing_rule(rules)
