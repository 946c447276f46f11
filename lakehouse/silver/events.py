"""silver.events: clickstream events, typed and deduplicated on `event_id`.

A re-delivered or replayed event keeps its first landing: earliest `_ingested_at`, then the
lowest `_source` and `_line_no`, so the choice is deterministic. `event_ts` is read from
ISO-8601 UTC text (`2026-01-01T10:00:00Z`, exactly that shape); `event_date` is its UTC date.
An event dated after the run's latest accepted time, or before the earliest, is rejected
(`lakehouse.quality.event_time`): the bounds come in as an argument.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType, TimestampType

from lakehouse.quality.event_time import TimeBounds, bind_time_rules, in_future, too_early
from lakehouse.quality.rules import (
    Built,
    Rule,
    conform,
    json_struct,
    not_in,
    parse_iso_timestamp,
    split_rejects,
)
from lakehouse.tables import FirstLanding, TableSpec, frozen

# Column comments (`lakehouse describe`, DESCRIBE through `lakehouse sql`).
COMMENTS = {
    "event_id": "the event (unique)",
    "session_id": "the storefront session",
    "customer_id": "the signed-in customer; null when anonymous",
    "event_type": "page_view, add_to_cart, checkout or search",
    "event_ts": "when the event happened (UTC)",
    "event_date": "UTC date of event_ts",
    "page": "page shown",
    "product_id": "product viewed or added; null for other events",
    "query": "search text of a search event",
    "device": "device kind",
}
SCHEMA = StructType(
    [
        StructField("event_id", StringType()),
        StructField("session_id", StringType()),
        StructField("customer_id", LongType()),
        StructField("event_type", StringType()),
        StructField("event_ts", TimestampType()),
        StructField("event_date", DateType()),
        StructField("page", StringType()),
        StructField("product_id", LongType()),
        StructField("query", StringType()),
        StructField("device", StringType()),
    ]
)
EVENT_TYPES = ("page_view", "add_to_cart", "checkout", "search")
RULES = [
    Rule("event_id_missing", "event_id IS NULL OR trim(event_id) = ''"),
    Rule("event_type_unknown", not_in("event_type", EVENT_TYPES)),
    Rule("event_ts_invalid", "event_ts IS NULL"),
    Rule("session_id_missing", "session_id IS NULL OR trim(session_id) = ''"),
    Rule("event_ts_in_future", in_future("event_ts")),
    Rule("event_ts_too_early", too_early("event_ts")),
]
_PAYLOAD = "_bronze"

# A key's first landing wins. Bronze only ever appends, in `_ingested_at` order, so a landing
# already processed always comes before a new one: incremental runs rely on it.
KEPT_BY = FirstLanding(source="bronze.events", first_by=("_ingested_at", "_source", "_line_no"))
SPEC = TableSpec(
    name="silver.events",
    key=("event_id",),
    comments=COMMENTS,
    schema=SCHEMA,
    partition_by=("event_date",),
    date_column="event_date",
    fresh_by="event_ts",  # source freshness (a warning) is the age of the newest `event_ts` at the run date
    inputs=frozen({"first": "bronze.events"}),  # each key's first landing in bronze.events (`build_from_first`)
    incremental=KEPT_BY,
    rules=tuple(RULES),
)


def build_events(bronze_events: DataFrame, bounds: TimeBounds) -> Built:
    """bronze.events → silver.events and its rejects; events outside `bounds` are rejected."""
    first = KEPT_BY.first_of(bronze_events, SPEC.key)
    return build_from_first(first, bounds)


def build_from_first(first: DataFrame, bounds: TimeBounds) -> Built:
    """Typed rows and rejects from the first landing of each event."""
    typed = (
        first.withColumn(_PAYLOAD, json_struct(first))
        .withColumn("event_ts", parse_iso_timestamp("ts"))
        .withColumn("event_date", F.to_date("event_ts"))
    )
    checked = split_rejects(typed, SPEC.name, bind_time_rules(RULES, bounds), payload=_PAYLOAD)
    return checked.map_rows(lambda rows: conform(rows, SCHEMA))
