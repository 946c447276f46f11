"""bronze.fx_rates: daily rates (units of currency per 1 EUR) as the rates API returned them.

An answer is only landed whole: `answer_checks` must pass first (every day of the window for every
currency the API serves, every rate a number above 0), so no partial or wrong answer is written
and the watermark never passes a day that was not landed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from typing import Any

from lakehouse.bronze.records import Field, Rejected, parse_record, spark_schema
from lakehouse.quality.checks import CheckResult

TABLE = "bronze.fx_rates"
# Examples kept with a failed answer check.
EXAMPLES = 3
SOURCE = "fx"
FIELDS = [Field("date", "str", required=True), Field("currency", "str", required=True), Field("rate", "float")]
SCHEMA = spark_schema(FIELDS)


def parse_rates(rates: list[dict[str, Any]], origin: str) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Check each rate object from the API against FIELDS; malformed ones are rejected."""

    good: list[dict[str, Any]] = []
    bad: list[Rejected] = []
    for index, item in enumerate(rates, start=1):
        raw = json.dumps(item, sort_keys=True)
        record, reason = parse_record(raw, FIELDS)
        if record is None:
            bad.append(Rejected(SOURCE, origin, index, raw, reason or "unparseable"))
        else:
            good.append(record)
    return good, bad


def _days(start: dt.date, end: dt.date) -> list[str]:
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def answer_checks(
    rates: Sequence[dict[str, Any]], start: dt.date, end: dt.date, currencies: Sequence[str]
) -> list[CheckResult]:
    """The source checks of one `/v1/rates` answer for `start`..`end` (critical: a failure lands nothing).

    - `fx_days_complete`: a rate for every day of the window and every currency of `/v1/meta`;
    - `fx_rate_positive`: every rate a JSON number above 0 (not 0, negative, null, a string, NaN);
    - `fx_answer_exact`: no rate outside the window or for a currency `/v1/meta` does not list, and
      no (date, currency) twice (which of two rates would be right is not known)."""
    seen = {(str(r.get("date")), str(r.get("currency"))) for r in rates}
    missing = [(day, cur) for day in _days(start, end) for cur in currencies if (day, cur) not in seen]
    wanted = len(_days(start, end)) * len(currencies)
    days = sorted({day for day, _ in missing})
    complete = CheckResult(
        TABLE, "fx_days_complete", "critical", not missing,
        f"{len(missing)} of {wanted} (date, currency) rates missing, on {len(days)} day(s) from {days[0]}"
        if missing else f"{wanted} rates",
        len(missing), tuple(f"{day} {cur}" for day, cur in missing[:EXAMPLES]),
    )
    wrong = [r for r in rates if not _positive_number(r.get("rate"))]
    positive = CheckResult(
        TABLE, "fx_rate_positive", "critical", not wrong,
        f"{len(wrong)} rate(s) not a number above 0" if wrong else None,
        len(wrong), tuple(json.dumps(r, sort_keys=True) for r in wrong[:EXAMPLES]),
    )
    window, listed = set(_days(start, end)), set(currencies)
    counts: dict[tuple[str, str], int] = {}
    for r in rates:
        pair = (str(r.get("date")), str(r.get("currency")))
        counts[pair] = counts.get(pair, 0) + 1
    stray = [f"{day} {cur}" for day, cur in counts if day not in window or cur not in listed]
    twice = [f"{day} {cur} x{n}" for (day, cur), n in counts.items() if n > 1]
    unexpected = stray + twice
    exact = CheckResult(
        TABLE, "fx_answer_exact", "critical", not unexpected,
        f"{len(stray)} rate(s) outside {start}..{end} or for a currency /v1/meta does not list, "
        f"{len(twice)} (date, currency) given more than once" if unexpected else None,
        len(unexpected), tuple(unexpected[:EXAMPLES]),
    )
    return [complete, positive, exact]
