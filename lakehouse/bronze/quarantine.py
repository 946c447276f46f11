"""bronze.quarantine: every record a bronze job could not parse, with its raw text and reason."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from pyspark.sql.types import LongType, StructField

from lakehouse.bronze.records import Field, Rejected, spark_schema
from lakehouse.personal import PersonalData

TABLE = "bronze.quarantine"
FIELDS = [Field("source", "str"), Field("raw", "str"), Field("reason", "str")]
SCHEMA = spark_schema(FIELDS, extra=[StructField("_line_no", LongType())])
# A raw line is whatever the source sent: redacted where it quotes an erased customer.
PERSONAL_DATA = PersonalData(TABLE, free_text={"raw": "'[erased]'"}, customer=None)


def quarantine_frame(rejected: Sequence[Rejected]) -> tuple[pd.DataFrame, pd.Series]:
    """Rows for bronze.quarantine without ingestion columns, and each row's `_source`."""
    frame = pd.DataFrame(
        {
            "source": pd.Series([r.source for r in rejected], dtype="object"),
            "raw": pd.Series([r.raw for r in rejected], dtype="object"),
            "reason": pd.Series([r.reason for r in rejected], dtype="object"),
            "_line_no": pd.Series([r.line_no for r in rejected], dtype="Int64"),
        }
    )
    return frame, pd.Series([r.origin for r in rejected], dtype="object")
