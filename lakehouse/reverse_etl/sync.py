"""`lakehouse sync crm`: send gold.customer_segments' changes to a CRM, keyed and idempotent.

1. Pin the current Delta version of gold.customer_segments and read it (delta-rs).
2. Diff it against `ops.sync_state` for the target (what the target acknowledged), or against
   nothing with `--full`: inserts, updates, deletes (`lakehouse.reverse_etl.changes`).
3. Send in batches of `crm.batch_size`. A batch that still fails after the target's retries goes
   to `ops.sync_dead_letter` with the error; the others are acknowledged.
4. In one commit each: the new ledger slice, the dead letters, and a row in `ops.sync_runs`.

A sync killed before step 4 records nothing, so the next one sends the same changes again: every
write is keyed by `customer_id` (and, over HTTP, carries the same idempotency key for the same
batch), so the CRM ends up with each contact once and none missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

from lakehouse.config import Config
from lakehouse.gold.customer_segments import SPEC as SEGMENTS
from lakehouse.reverse_etl import ledger
from lakehouse.reverse_etl.changes import Change, compute_changes, contacts
from lakehouse.reverse_etl.targets import HttpTarget, PostgresTarget, SendFailed, Target
from lakehouse.storage import Lake

log = logging.getLogger(__name__)
TARGETS = ("postgres", "http")


class SyncError(ValueError):
    """The sync cannot start (named in the message)."""


@dataclass
class SyncResult:
    run_id: str
    target: str
    from_version: int | None
    to_version: int
    changes: list[Change]
    failed: list[tuple[Change, str, str, int]] = field(default_factory=list)  # change, error, batch, position
    seconds: float = 0.0
    dry_run: bool = False

    def count(self, op: str) -> int:
        return sum(1 for c in self.changes if c.op == op)

    @property
    def sent(self) -> int:
        return len(self.changes) - len(self.failed)

    def describe(self) -> str:
        what = "would send" if self.dry_run else "sent"
        line = (
            f"{self.target}: gold.customer_segments v{self.from_version if self.from_version is not None else '-'} "
            f"→ v{self.to_version}: {self.count('insert')} insert(s), {self.count('update')} update(s), "
            f"{self.count('delete')} delete(s); {what} {len(self.changes) if self.dry_run else self.sent}"
        )
        if self.failed:
            line += f", {len(self.failed)} to the dead-letter table (lakehouse sync replay)"
        return line + ("" if self.dry_run else f" in {self.seconds:.2f} s")


def open_target(config: Config, name: str) -> Target:
    """The target, connected with credentials from the environment only."""
    url = os.environ.get("LAKEHOUSE_CRM_URL")
    if not url:
        raise SyncError("LAKEHOUSE_CRM_URL is not set: the CRM's address comes from the environment")
    if name == "postgres":
        return PostgresTarget(url, config.crm)
    if name == "http":
        token = os.environ.get("LAKEHOUSE_CRM_TOKEN")
        if not token:
            raise SyncError("LAKEHOUSE_CRM_TOKEN is not set: the CRM's bearer token comes from the environment")
        return HttpTarget(url, token, config.crm)
    raise SyncError(f"unknown target '{name}'; targets: {', '.join(TARGETS)}")


def _batches(changes: Sequence[Change], size: int) -> Iterator[Sequence[Change]]:
    for start in range(0, len(changes), size):
        yield changes[start : start + size]


def plan(lake: Lake, target: str, full: bool = False, only: set[int] | None = None) -> SyncResult:
    """The changes to send (nothing is sent)."""
    version = lake.version(SEGMENTS.name)
    if version is None:
        raise SyncError(f"{SEGMENTS.name} does not exist yet: run the pipeline first")
    segments = lake.delta(SEGMENTS.name, version).to_pandas()
    current = contacts(segments)
    state = ledger.state(lake, target)
    known = {int(r.customer_id): (r.content_hash, r.status) for r in state.itertuples()}
    if only is not None:
        current = {k: v for k, v in current.items() if k in only}
        known = {k: v for k, v in known.items() if k in only}
    changes = compute_changes(current, known, full)
    return SyncResult(f"sync-{uuid.uuid4().hex[:12]}", target, ledger.last_version(lake, target), version, changes)


def send(config: Config, lake: Lake, result: SyncResult, target: Target) -> SyncResult:
    """Send `result.changes`, then record ledger, dead letters and the run."""
    start, at = time.perf_counter(), dt.datetime.now(dt.UTC)
    acked: list[Change] = []
    for batch in _batches(result.changes, config.crm.batch_size):
        try:
            target.send(batch)
            acked.extend(batch)
        except SendFailed as exc:
            log.warning("a batch of %d contact(s) failed: %s", len(batch), exc)
            key = batch_key(batch)
            result.failed.extend((c, str(exc), key, i) for i, c in enumerate(batch))
    result.seconds = time.perf_counter() - start
    _record(lake, result, acked, at)
    return result


def _record(lake: Lake, result: SyncResult, acked: list[Change], at: dt.datetime) -> None:
    state = ledger.state(lake, result.target)
    rows = {
        int(r.customer_id): r._asdict() for r in state.drop(columns=["Index"], errors="ignore").itertuples(index=False)
    }
    stamp = at.replace(tzinfo=None)
    for c in acked:
        status = "deleted" if c.op == "delete" else "present"
        rows[c.customer_id] = {
            "target": result.target,
            "customer_id": c.customer_id,
            "content_hash": c.content_hash,
            "status": status,
            "gold_version": result.to_version,
            "synced_at": stamp,
        }
    if acked:
        ledger.write_state(
            lake, result.target, pd.DataFrame(list(rows.values()), columns=ledger.STATE_SCHEMA.fieldNames())
        )
    if result.failed:
        dead = pd.DataFrame(
            [
                (
                    result.run_id,
                    result.target,
                    c.customer_id,
                    c.op,
                    c.content_hash,
                    _payload(c),
                    key,
                    i,
                    error,
                    stamp,
                    None,
                )
                for c, error, key, i in result.failed
            ],
            columns=ledger.DEAD_SCHEMA.fieldNames(),
        )
        lake.append_pandas(dead, ledger.DEAD_SCHEMA, ledger.DEAD)
    ledger.resolve_dead_letters(lake, result.target, [c.customer_id for c in acked], at)
    run = pd.DataFrame(
        [
            (
                result.run_id,
                result.target,
                result.from_version,
                result.to_version,
                result.count("insert"),
                result.count("update"),
                result.count("delete"),
                result.sent,
                len(result.failed),
                round(result.seconds, 3),
                "sync",
                stamp,
            )
        ],
        columns=ledger.RUNS_SCHEMA.fieldNames(),
    ).astype({"from_version": "Int64"})
    lake.append_pandas(run, ledger.RUNS_SCHEMA, ledger.RUNS)


def sync(config: Config, lake: Lake, target: str, full: bool = False, dry_run: bool = False) -> SyncResult:
    """Plan and (unless `dry_run`) send."""
    result = plan(lake, target, full)
    if dry_run:
        result.dry_run = True
        return result
    connection = open_target(config, target)
    try:
        return send(config, lake, result, connection)
    finally:
        connection.close()


def _payload(change: Change) -> str | None:
    return None if change.record is None else json.dumps(change.record, sort_keys=True)


def batch_key(batch: Sequence[Change]) -> str:
    text = json.dumps([(c.customer_id, c.op, c.content_hash) for c in batch])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _dead_batches(dead: pd.DataFrame) -> list[list[Change]]:
    """The dead letters regrouped into the batches they were sent in, in their order."""
    ordered = dead.sort_values(["batch_key", "position"])
    return [
        [
            Change(int(r.customer_id), str(r.op), r.content_hash, None if r.payload is None else json.loads(r.payload))
            for r in rows.itertuples()
        ]
        for _, rows in ordered.groupby("batch_key", sort=False)
    ]


def replay(config: Config, lake: Lake, target: str) -> SyncResult:
    """Resend the dead letters exactly as they were sent: same batches, same contents, so a batch the
    CRM applied before its answer was lost is recognised by its idempotency key, not applied twice.
    A contact that changed in gold since then is updated by the next `sync crm`."""
    batches = _dead_batches(ledger.dead_letters(lake, target))
    version = lake.version(SEGMENTS.name) or 0
    changes = [c for b in batches for c in b]
    result = SyncResult(f"replay-{uuid.uuid4().hex[:12]}", target, version, version, changes)
    connection = open_target(config, target)
    start, at = time.perf_counter(), dt.datetime.now(dt.UTC)
    acked: list[Change] = []
    try:
        for batch in batches:
            try:
                connection.send(batch)
                acked.extend(batch)
            except SendFailed as exc:
                key = batch_key(batch)
                result.failed.extend((c, str(exc), key, i) for i, c in enumerate(batch))
    finally:
        connection.close()
    result.seconds = time.perf_counter() - start
    _record(lake, result, acked, at)
    return result
