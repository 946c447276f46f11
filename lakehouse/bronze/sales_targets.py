"""bronze.sales_targets: the operators' CSV, every upload kept whole as raw text.

Typing happens in silver, where typos and wrong types become rejects; here a line is only
quarantined when it does not have the header's number of fields.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pyspark.sql.types import LongType, StructField

from lakehouse.bronze.records import Field, Rejected, spark_schema

TABLE = "bronze.sales_targets"
SOURCE = "targets"
FIELDS = [Field("country", "str"), Field("month", "str"), Field("target_revenue_eur", "str")]
SCHEMA = spark_schema(FIELDS, extra=[StructField("_line_no", LongType())])


def parse_targets_csv(content: bytes, origin: str) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Rows of the CSV as raw strings keyed by the contract's column names."""
    text = content.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    header = next(csv.reader([lines[0]])) if lines else []
    names = [h.strip().lower() for h in header]
    missing = [f.name for f in FIELDS if f.name not in names]
    if missing:
        reason = f"header lacks column(s) {', '.join(missing)}"
        return [], [Rejected(SOURCE, origin, 1, lines[0] if lines else "", reason)]
    good: list[dict[str, Any]] = []
    bad: list[Rejected] = []
    for line_no, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        values = next(csv.reader(io.StringIO(raw)))
        if len(values) != len(names):
            bad.append(Rejected(SOURCE, origin, line_no, raw, f"expected {len(names)} fields, got {len(values)}"))
            continue
        row = dict(zip(names, values, strict=True))
        good.append({**{f.name: row[f.name] for f in FIELDS}, "_line_no": line_no})
    return good, bad
