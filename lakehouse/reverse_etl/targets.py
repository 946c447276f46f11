"""Where contacts go: a PostgreSQL table or a CRM's HTTP batch API. Each target sends one batch
of changes as keyed, idempotent writes, retrying what is worth retrying, and raises `SendFailed`
when a batch still fails (its records then go to the dead-letter table)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from lakehouse.config import CrmConfig
from lakehouse.reverse_etl.changes import Change

CONTACT_COLUMNS = ["email", "country", "segment", "churn_probability", "lifetime_value_eur", "updated_at"]


class SendFailed(RuntimeError):
    """A batch that still failed after every retry."""


class Target(Protocol):
    name: str

    def send(self, batch: Sequence[Change]) -> None: ...

    def close(self) -> None: ...


# -- PostgreSQL ---------------------------------------------------------------------------------
DDL = """
CREATE SCHEMA IF NOT EXISTS crm;
CREATE TABLE IF NOT EXISTS crm.contacts (
    customer_id bigint PRIMARY KEY,
    email text, country text, segment text, churn_probability double precision,
    lifetime_value_eur numeric(18,2), updated_at text,
    synced_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE crm.contacts ALTER COLUMN lifetime_value_eur TYPE numeric(18,2)
"""
UPSERT = (
    f"INSERT INTO crm.contacts (customer_id, {', '.join(CONTACT_COLUMNS)}) VALUES (%s{', %s' * len(CONTACT_COLUMNS)}) "
    f"ON CONFLICT (customer_id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in CONTACT_COLUMNS)}, "
    "synced_at = now()"
)


def psycopg_url(url: str) -> str:
    """A libpq URL from a SQLAlchemy-style one (`postgresql+psycopg://` → `postgresql://`)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _column(record: dict[str, Any], name: str) -> Any:
    """A contact's value as crm.contacts stores it (money text → Decimal for `numeric`)."""
    value = record[name]
    return Decimal(value) if name == "lifetime_value_eur" and value is not None else value


class PostgresTarget:
    """crm.contacts in PostgreSQL: one transaction per batch (upserts and deletes)."""

    name = "postgres"

    def __init__(self, url: str, settings: CrmConfig) -> None:
        import psycopg

        self._psycopg = psycopg
        self.settings = settings
        self.connection = psycopg.connect(psycopg_url(url), connect_timeout=int(settings.timeout_seconds))
        with self.connection.transaction():
            self.connection.execute(DDL)

    def send(self, batch: Sequence[Change]) -> None:
        upserts = [
            (c.customer_id, *[_column(c.record, k) for k in CONTACT_COLUMNS]) for c in batch if c.record is not None
        ]
        deletes = [c.customer_id for c in batch if c.record is None]
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.settings.attempts),
                wait=wait_exponential(multiplier=self.settings.backoff_seconds),
                retry=retry_if_exception_type(self._psycopg.OperationalError),
                reraise=True,
            ):
                with attempt, self.connection.transaction(), self.connection.cursor() as cursor:
                    if upserts:
                        cursor.executemany(UPSERT, upserts)
                    if deletes:
                        cursor.execute("DELETE FROM crm.contacts WHERE customer_id = ANY(%s)", (deletes,))
        except self._psycopg.Error as exc:
            raise SendFailed(f"postgres: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc

    def close(self) -> None:
        self.connection.close()


# -- HTTP CRM -----------------------------------------------------------------------------------
UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
ARCHIVE_PATH = "/crm/v3/objects/contacts/batch/archive"


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"429 Too Many Requests (Retry-After {retry_after:g} s)")


class ServerError(Exception):
    """A 5xx answer: worth retrying."""


class TokenBucket:
    """At most `rate` requests per second on average, bursts up to `capacity`."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate, self.capacity = rate, capacity or max(1.0, rate)
        self.tokens, self.updated = self.capacity, time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
            self.tokens -= 1
        if wait:
            time.sleep(wait)


def idempotency_key(path: str, body: dict[str, Any]) -> str:
    """The same batch always gets the same key, so a resend after a crash is applied once."""
    return hashlib.sha256((path + json.dumps(body, sort_keys=True, default=str)).encode()).hexdigest()


class HttpTarget:
    """A CRM's batch contact API: upsert by `customer_id`, archive for deletes; bearer auth."""

    name = "http"

    def __init__(self, url: str, token: str, settings: CrmConfig) -> None:
        self.settings = settings
        self.bucket = TokenBucket(settings.requests_per_second)
        headers = {"Authorization": f"Bearer {token}"}
        self.client = httpx.Client(base_url=url, headers=headers, timeout=settings.timeout_seconds)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return error.retry_after
        return float(self.settings.backoff_seconds * 2 ** (state.attempt_number - 1))

    def _post(self, path: str, body: dict[str, Any]) -> None:
        headers = {"Idempotency-Key": idempotency_key(path, body)}
        failures = [0]  # answers other than 429: only these count against `crm.attempts`

        def give_up(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            failures[0] += not isinstance(error, RateLimited)
            return failures[0] >= self.settings.attempts or state.attempt_number >= 20 * self.settings.attempts

        for attempt in Retrying(
            stop=give_up,
            wait=self._wait,
            retry=retry_if_exception_type((RateLimited, ServerError, httpx.TransportError)),
            reraise=True,
        ):
            with attempt:
                self.bucket.take()
                response = self.client.post(path, json=body, headers=headers)
                if response.status_code == 429:
                    retry_after = float(response.headers.get("Retry-After", "1"))
                    if retry_after > self.settings.max_retry_after_seconds:
                        raise SendFailed(f"429 with Retry-After {retry_after:g} s, longer than allowed")
                    raise RateLimited(retry_after)
                if response.status_code >= 500:
                    raise ServerError(f"{response.status_code} from {path}")
                if response.status_code >= 400:  # not worth retrying: the request itself is wrong
                    raise SendFailed(f"{response.status_code} from {path}: {response.text[:200]}")

    def send(self, batch: Sequence[Change]) -> None:
        upserts = [
            {"id": str(c.customer_id), "idProperty": "customer_id", "properties": c.record}
            for c in batch
            if c.record is not None
        ]
        deletes = [{"id": str(c.customer_id)} for c in batch if c.record is None]
        try:
            if upserts:
                self._post(UPSERT_PATH, {"inputs": upserts})
            if deletes:
                self._post(ARCHIVE_PATH, {"inputs": deletes})
        except (RateLimited, ServerError, httpx.TransportError) as exc:
            raise SendFailed(f"http: {exc}") from exc

    def close(self) -> None:
        self.client.close()
