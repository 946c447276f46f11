"""bronze.fx_rates: daily rates (units of currency per 1 EUR) as the rates API returned them."""

from __future__ import annotations

import json
from typing import Any

from lakehouse.bronze.records import Field, Rejected, parse_record, spark_schema

TABLE = "bronze.fx_rates"
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
