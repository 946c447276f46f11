"""What to send: the segments as they are now, against what the target last acknowledged.

A contact's content hash covers what the CRM stores (`email`, `country`, `segment`,
`churn_probability`, `lifetime_value_eur`), not `updated_at`, so a new as-of date alone does not
resend a customer. Changes are keyed by `customer_id`:
- `insert`: not in the ledger (or deleted there), now present;
- `update`: in the ledger with another hash (or last attempt failed);
- `delete`: in the ledger as present, no longer in gold.customer_segments (erased, no email...).

`lifetime_value_eur` is sent as text with exactly two decimals (`"1234.50"`): the exact cents of
gold's DECIMAL(18,2), which a JSON number would let a client read back as a binary float (CRM
properties are text; PostgreSQL stores it as `numeric(18,2)`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

FIELDS = ["email", "country", "segment", "churn_probability", "lifetime_value_eur"]


def cents_text(value: Any) -> str | None:
    """A money value as text with two decimals (`Decimal("1234.5")` → `"1234.50"`); None when null."""
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return None
    return format(Decimal(str(value)).quantize(Decimal("0.01")), "f")


def content_hash(record: dict[str, Any]) -> str:
    canonical = {k: (None if pd.isna(record[k]) else record[k]) for k in FIELDS}
    if canonical["churn_probability"] is not None:
        canonical["churn_probability"] = round(float(canonical["churn_probability"]), 6)
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Change:
    customer_id: int
    op: str  # insert | update | delete
    content_hash: str | None
    record: dict[str, Any] | None  # the contact to upsert (None for a delete)


def contacts(segments: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """customer_id → the contact as the CRM stores it (plus updated_at as text)."""
    out: dict[int, dict[str, Any]] = {}
    for row in segments.to_dict(orient="records"):
        record = {k: row[k] for k in FIELDS}
        record["churn_probability"] = (
            None if pd.isna(record["churn_probability"]) else float(record["churn_probability"])
        )
        record["lifetime_value_eur"] = cents_text(record["lifetime_value_eur"])
        record["updated_at"] = str(row["updated_at"])
        out[int(row["customer_id"])] = record
    return out


def compute_changes(current: dict[int, dict[str, Any]], ledger: dict[int, tuple[str, str]], full: bool) -> list[Change]:
    """`ledger`: customer_id → (content_hash, status) as last acknowledged by the target."""
    changes = []
    for cid, record in sorted(current.items()):
        digest = content_hash(record)
        known = ledger.get(cid)
        if known is None or known[1] == "deleted":
            changes.append(Change(cid, "insert", digest, record))
        elif full or known[0] != digest or known[1] != "present":
            changes.append(Change(cid, "update", digest, record))
    for cid, (_, status) in sorted(ledger.items()):
        if status == "present" and cid not in current:
            changes.append(Change(cid, "delete", None, None))
    return changes
