"""A local CRM with a batch contact API shaped like the big CRMs' (HubSpot's v3 batch upsert and
archive), for the demo, tests and benchmarks: bearer auth, a rate limit answered with 429 and
`Retry-After`, injectable 5xx failures, and `Idempotency-Key` handling (a key seen before gets its
stored answer; the batch is not applied again). Contacts and every applied write are kept in
SQLite, so a test can check that each record was applied exactly once.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from lakehouse.reverse_etl.targets import ARCHIVE_PATH, UPSERT_PATH

SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (customer_id INTEGER PRIMARY KEY, properties TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS writes (customer_id INTEGER, op TEXT, idempotency_key TEXT, at REAL);
CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, response TEXT NOT NULL);
"""


class Faults(BaseModel):
    fail_rate: float = 0.0  # share of requests answered 500 (half before applying, half after)
    poison_ids: list[int] = []  # a batch holding one of these always gets 500
    requests_per_second: float = 50.0
    burst: float = 10.0
    retry_after_seconds: float | None = None  # fixed Retry-After; default: time until a token


class Limiter:
    def __init__(self) -> None:
        self.tokens, self.updated = math.inf, time.monotonic()  # starts full (capped at the burst)
        self.lock = threading.Lock()

    def retry_after(self, rate: float, burst: float) -> float:
        """0 when a request may go now (and takes a token), else seconds until one may."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(burst, self.tokens + (now - self.updated) * rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / rate


class CrmStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def apply(self, key: str, op: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """Apply a batch and store its answer under `key`, in one transaction; or the stored answer."""
        with self.lock:
            stored = self.db.execute("SELECT response FROM idempotency WHERE key = ?", (key,)).fetchone()
            if stored:
                return dict(json.loads(stored[0]), replayed=True)
            self.db.execute("BEGIN")
            now = time.time()
            for item in inputs:
                cid = int(item["id"])
                if op == "upsert":
                    props = json.dumps(item.get("properties") or {}, sort_keys=True)
                    self.db.execute("INSERT OR REPLACE INTO contacts VALUES (?, ?)", (cid, props))
                else:
                    self.db.execute("DELETE FROM contacts WHERE customer_id = ?", (cid,))
                self.db.execute("INSERT INTO writes VALUES (?, ?, ?, ?)", (cid, op, key, now))
            response = {"status": "COMPLETE", "results": len(inputs)}
            self.db.execute("INSERT INTO idempotency VALUES (?, ?)", (key, json.dumps(response)))
            self.db.execute("COMMIT")
            return response

    def contacts(self) -> dict[int, dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT customer_id, properties FROM contacts").fetchall()
        return {int(cid): json.loads(props) for cid, props in rows}

    def writes(self) -> list[tuple[int, str, str]]:
        with self.lock:
            return [tuple(r) for r in self.db.execute("SELECT customer_id, op, idempotency_key FROM writes")]


def create_crm_app(db_path: Path, token: str, faults: Faults | None = None, seed: int = 7) -> FastAPI:
    """The CRM API over a SQLite file; `token` is the only accepted bearer credential."""
    app = FastAPI(title="Local CRM", docs_url=None, redoc_url=None)
    store, limiter, rng = CrmStore(db_path), Limiter(), random.Random(seed)
    app.state.faults, app.state.store = faults or Faults(), store

    def check(request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {token}":
            raise HTTPException(401, "missing or wrong bearer token")

    def batch(request: Request, body: dict[str, Any], key: str | None, op: str) -> JSONResponse:
        check(request)
        f: Faults = app.state.faults
        wait = limiter.retry_after(f.requests_per_second, f.burst)
        if wait:
            seconds = f.retry_after_seconds if f.retry_after_seconds is not None else wait
            return JSONResponse({"message": "rate limited"}, 429, {"Retry-After": str(math.ceil(seconds * 10) / 10)})
        if not key:
            raise HTTPException(400, "Idempotency-Key header required")
        inputs = body.get("inputs") or []
        if any(int(i["id"]) in f.poison_ids for i in inputs):
            return JSONResponse({"message": "internal error"}, 500)
        failing = rng.random() < f.fail_rate
        if failing and rng.random() < 0.5:  # fails before applying anything
            return JSONResponse({"message": "internal error"}, 503)
        answer = store.apply(key, op, inputs)
        if failing:  # applied, but the answer is lost: the client's retry must not apply it twice
            return JSONResponse({"message": "internal error"}, 500)
        return JSONResponse(answer)

    @app.post(UPSERT_PATH)
    async def upsert(request: Request, idempotency_key: str | None = Header(None)) -> JSONResponse:
        return batch(request, await request.json(), idempotency_key, "upsert")

    @app.post(ARCHIVE_PATH)
    async def archive(request: Request, idempotency_key: str | None = Header(None)) -> JSONResponse:
        return batch(request, await request.json(), idempotency_key, "archive")

    @app.get("/crm/v3/objects/contacts")
    def contacts(request: Request) -> dict[str, Any]:
        check(request)
        return {"results": [{"id": str(k), "properties": v} for k, v in sorted(store.contacts().items())]}

    @app.put("/admin/faults")
    def set_faults(request: Request, new: Faults) -> Faults:
        check(request)
        app.state.faults = new
        return new

    return app
