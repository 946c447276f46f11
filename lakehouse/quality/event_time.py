"""When a run judges its data, and the event times silver accepts at that moment.

A run's reference time is the end of `pipeline.run_date` when one is set (a replay of history),
else the run's start; both UTC. Source freshness is measured against it, and a record dated more
than `quality.max_future_skew_hours` after it, or before `quality.earliest_event_date`, is
rejected: a clock set wrong on a device or a typo in a year would otherwise create gold rows for
days that have not happened and hide that a source stopped sending.

Silver tables declare these rules in their `RULES` like any other, with the bounds left open
(`in_future`, `too_early`); a builder binds them to the run's bounds (`bind_time_rules`), given as
an argument, so transforms stay pure and a rebuild, an increment and a re-admission at the same
reference time reject the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from lakehouse.config import Config
from lakehouse.quality.rules import Rule

# Placeholders in a rule's SQL for the bounds, filled in by `bind_time_rules`.
LATEST = "{latest_event_time}"
EARLIEST = "{earliest_event_time}"


def reference_time(run_date: dt.date | None, started_at: dt.datetime) -> dt.datetime:
    """The moment a run judges its data at (UTC, timezone-aware): the end of `run_date` when set,
    else `started_at` (a naive `started_at` is taken as UTC)."""
    if run_date is not None:
        return dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    if started_at.tzinfo is None:
        return started_at.replace(tzinfo=dt.UTC)
    return started_at.astimezone(dt.UTC)


@dataclass(frozen=True)
class TimeBounds:
    """The event times silver accepts: from `earliest` to `latest`, both included (UTC, aware)."""

    earliest: dt.datetime
    latest: dt.datetime

    @staticmethod
    def of_run(config: Config, started_at: dt.datetime) -> TimeBounds:
        """The bounds of a run started at `started_at` under `config` (see the module docstring)."""
        reference = reference_time(config.pipeline.run_date, started_at)
        quality = config.quality
        earliest = dt.datetime.combine(quality.earliest_event_date, dt.time(), tzinfo=dt.UTC)
        return TimeBounds(earliest, reference + dt.timedelta(hours=quality.max_future_skew_hours))


def in_future(column: str) -> str:
    """SQL that is TRUE when `column` is after the latest accepted time (see `bind_time_rules`)."""
    return f"{column} > {LATEST}"


def too_early(column: str) -> str:
    """SQL that is TRUE when `column` is before the earliest accepted time (see `bind_time_rules`)."""
    return f"{column} < {EARLIEST}"


def _timestamp_literal(moment: dt.datetime) -> str:
    # Sessions run with spark.sql.session.timeZone=UTC: a literal without a zone is UTC on both engines.
    return f"TIMESTAMP '{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}'"


def bind_time_rules(rules: Sequence[Rule], bounds: TimeBounds) -> list[Rule]:
    """`rules` with the bounds of `in_future` / `too_early` set to `bounds`; other rules unchanged."""
    latest, earliest = _timestamp_literal(bounds.latest), _timestamp_literal(bounds.earliest)
    return [
        Rule(r.name, r.fails_when.replace(LATEST, latest).replace(EARLIEST, earliest)) for r in rules
    ]


def unbound(rules: Sequence[Rule]) -> list[str]:
    """The names of `rules` whose time bounds are not set yet."""
    return [r.name for r in rules if LATEST in r.fails_when or EARLIEST in r.fails_when]
