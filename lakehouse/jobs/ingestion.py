"""Ingestion jobs: each reads one source and appends to bronze (and quarantine)."""

from __future__ import annotations

from collections.abc import Callable

from lakehouse import ingest
from lakehouse.jobs.base import Job, JobContext, JobOutcome, describe_warnings
from lakehouse.quality.checks import QualityGateFailed

# Landed files whose bytes were ingested before, under this name or another: not read again.
DUPLICATES_NOTE = "re-delivered file(s) skipped (same bytes)"


def ingest_job(name: str, outputs: tuple[str, ...], fn: Callable[..., ingest.IngestResult]) -> Job:
    def run(ctx: JobContext) -> JobOutcome:
        try:
            result = fn(ctx.lake, ctx.config, ctx.started_at, ctx)
        except QualityGateFailed as exc:  # a source check failed: keep its outcomes, then stop
            ctx.gate.record(name, exc.results)
            raise
        warnings = ctx.gate.record(name, result.checks)
        note = f"{result.batches} batch(es)"
        if result.skipped_files:  # e.g. the generator's daily `events-NNNN-redelivery.jsonl`
            note += f", {result.skipped_files} {DUPLICATES_NOTE}"
        rows_in = result.records + result.rejected
        return JobOutcome(rows_in, result.records, result.rejected, note, warnings=describe_warnings(warnings))

    return Job(name, (), outputs + ("bronze.quarantine",), run, incremental_source=True)
