"""The lake's write lock on object storage: a lease object that a heartbeat renews.

`<lake>/_lakehouse.lock` holds JSON: who holds the lake (`holder`, for another run's error message),
a random `token`, and `expires` (epoch seconds). A run takes the lake when the object is missing or
its lease has expired, and renews the lease every third of its length while it works; a holder
that dies (SIGKILL, a lost machine) stops renewing, and the next run takes the lake over once the
lease has run out: at most `lease_seconds` after the death, with a warning naming the dead holder.

Writes are conditional where the store honours it: the object is created with `If-None-Match: *`
and taken over or renewed with `If-Match` on the ETag read, so of two runs racing for it exactly
one wins (AWS S3, MinIO, Cloudflare R2). Some S3-compatible servers ignore those headers (s3proxy
2.6 with its file-system back end does: measured, docs/object_storage.md); so every write is read
back after `SETTLE_SECONDS`, and a run that finds another's token there has lost the race and goes
on waiting. That closes the race on such servers unless one request takes longer than the settle
time. Clocks of the machines that share a bucket must agree to well under `lease_seconds` (NTP).

A lock object this code did not write as it writes one (not JSON, not an object, or an `expires`
that is not a finite number: a foreign tool, a hand edit, a newer format) is neither trusted nor
ignored: its lease is taken to end `lease_seconds` after the object was last written (the store's
Last-Modified). A live holder of any format that rewrites it keeps the lake; a dead one's object is
taken over as an expired lease would be. Until then a run waits, and says in one line which object
is wrong and how (`parse_lock`); deleting the object frees the lake at once.

Requests go through `obstore` (the Rust `object_store` crate that delta-rs and Sail use), which
sends the conditional headers; `pyarrow.fs` has none (see `lakehouse.files`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.files import Location, StorageError
from lakehouse.holder import LakeBusy, holder_text

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

log = logging.getLogger(__name__)

LOCK_NAME = "_lakehouse.lock"
SETTLE_SECONDS = 0.3
_HELD: dict[str, _Lease] = {}  # lake -> the lease this process holds on it


class LakeLockLost(RuntimeError):
    """This run's lease was taken over (it paused longer than the lease: a suspended machine, a
    stalled process): it must not write again."""


def held(lake: Location) -> bool:
    """Whether this process took the lake's lease (a `lease_lock` inside it then takes nothing)."""
    return str(lake) in _HELD


def ensure_held(lake: Location) -> None:
    """Raise `LakeLockLost` when this process held the lake's lease and lost it; the lake's writes
    call it before each commit, so a run that lost the lake stops instead of racing its new holder."""
    lease = _HELD.get(str(lake))
    if lease is not None and lease.lost.is_set():
        raise LakeLockLost(f"lost the lake lock at {lake}: another run took the lake over while this one "
                           "was paused; this run stops before its next write (rerun it when the other ends)")


def _store(lake: Location) -> Any:
    from obstore.store import S3Store

    s3 = lake.s3
    assert s3 is not None
    prefix = lake.fs_path.partition("/")[2] or None
    config: S3Config = {"region": s3.region, "virtual_hosted_style_request": s3.virtual_hosted}
    if s3.endpoint:
        config["endpoint"] = s3.endpoint
    if s3.access_key and s3.secret_key:
        config |= {"access_key_id": s3.access_key, "secret_access_key": s3.secret_key}
    if s3.session_token:
        config["session_token"] = s3.session_token
    options: ClientConfig = {"allow_http": s3.allow_http, "timeout": "20s", "connect_timeout": "5s"}
    retry: RetryConfig = {"max_retries": 2, "retry_timeout": dt.timedelta(seconds=10)}
    return S3Store(lake.bucket, prefix=prefix, config=config, client_options=options, retry_config=retry)


@dataclass(frozen=True)
class LockRecord:
    """The lock object as read: who holds the lake, with which token, and until when (epoch
    seconds); `problem` says what is wrong with an object that is not a lease this code wrote."""

    holder: str
    token: object
    expires: float
    problem: str | None = None


def parse_lock(body: bytes, written: float, lease_seconds: float) -> LockRecord:
    """The lease in a lock object's `body`, written at `written` (epoch seconds). A malformed object
    is held until `lease_seconds` after it was written (see the module docstring)."""
    until = written + lease_seconds
    try:
        record = json.loads(body)
    except (ValueError, RecursionError):  # json's own errors, bytes that are not text, nesting past any lock
        return LockRecord("an unreadable lock object", None, until, "it is not JSON")
    if not isinstance(record, dict):
        return LockRecord("an unreadable lock object", None, until, "it is not a JSON object")
    # shown to users: printable characters only (no terminal escapes), and not a page of them
    holder = "".join(c if c.isprintable() else "?" for c in str(record.get("holder") or "another process"))[:200]
    expires = record.get("expires")
    number = isinstance(expires, int | float) and not isinstance(expires, bool)
    try:
        seconds = float(expires) if number else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an integer past any float
        seconds = math.inf
    if not math.isfinite(seconds):
        shown = "missing" if expires is None else json.dumps(expires)[:40]
        problem = f"its 'expires' is {shown}, not a finite number of seconds since 1970"
        return LockRecord(holder, record.get("token"), until, problem)
    return LockRecord(holder, record.get("token"), seconds)


class _Lease:
    """The lock object of one lake, as this process sees it."""

    def __init__(self, lake: Location, lease_seconds: float, holder: str) -> None:
        self.lake, self.lease_seconds, self.holder = lake, lease_seconds, holder
        self.token = uuid.uuid4().hex
        self.store = _store(lake)
        self.etag: str | None = None
        self.lost = threading.Event()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

        try:
            yield
        except (AlreadyExistsError, PreconditionError, NotFoundError, FileNotFoundError):
            raise
        except Exception as exc:  # obstore's errors, a timeout: one line, never a key
            text = " ".join(str(exc).split())[:200]
            for secret in self.lake.s3.secrets() if self.lake.s3 else ():
                text = text.replace(secret, "***")
            raise StorageError(f"object storage {(self.lake / LOCK_NAME).where()}: lake lock: {text}") from None

    def read(self) -> tuple[LockRecord | None, str | None]:
        """The lock's record and ETag; (None, None) when there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            with self._errors():
                got = obstore.get(self.store, LOCK_NAME)
                body = bytes(got.bytes())
        except (NotFoundError, FileNotFoundError):
            return None, None
        written = got.meta["last_modified"].timestamp()
        return parse_lock(body, written, self.lease_seconds), got.meta.get("e_tag")

    def _body(self) -> bytes:
        record = {"holder": self.holder, "token": self.token, "expires": time.time() + self.lease_seconds}
        return json.dumps(record).encode()

    def write(self, etag: str | None) -> bool:
        """Create the lock (no `etag`) or replace the version with `etag`; False when another
        writer got there first."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

        mode: Any = "create" if etag is None else {"e_tag": etag}
        try:
            with self._errors():
                result = obstore.put(self.store, LOCK_NAME, self._body(), mode=mode)
        except (AlreadyExistsError, PreconditionError):
            return False
        except (NotFoundError, FileNotFoundError):  # a PUT finds no bucket: it is not where the endpoint says
            raise StorageError(f"object storage {(self.lake / LOCK_NAME).where()}: lake lock: the bucket was not "
                               "found writing the lock (does the endpoint URL carry a path?)") from None
        self.etag = result.get("e_tag")
        return True

    def mine(self) -> bool:
        record, etag = self.read()
        if record is not None and record.problem is None and record.token == self.token:
            self.etag = etag
            return True
        return False

    def try_take(self) -> str | None:
        """Take the lake if it is free; None when taken, else why not (for `LakeBusy`)."""
        record, etag = self.read()
        uri = self.lake / LOCK_NAME
        if record is not None and record.expires > time.time():
            if record.problem is not None:
                return (f"the lake lock {uri} is not a lease ({record.problem}): taken as held until it has "
                        f"gone unchanged for {self.lease_seconds:g} s ({record.expires - time.time():.0f} s more; "
                        "delete it if no run holds the lake)")
            return f"{record.holder} holds the lake at {self.lake}"
        if record is not None and record.problem is not None:
            log.warning("taking over the lake lock %s: %s, and it has not changed for %g s", uri, record.problem,
                        self.lease_seconds)
        elif record is not None:
            log.warning("taking over the lake lock at %s: the lease of %s expired (its holder stopped)",
                        self.lake, record.holder)
        racing = f"another run taking the lake at the same moment holds the lake at {self.lake}"
        if not self.write(etag):
            return racing
        time.sleep(SETTLE_SECONDS)  # a store that ignored the condition: the last writer wins
        return None if self.mine() else racing

    def renew(self) -> None:
        if not self.mine() or not self.write(self.etag):
            self.lost.set()
            log.error("lost the lake lock at %s: another run took it over; this run stops before its next write",
                      self.lake)

    def release(self) -> None:
        with contextlib.suppress(Exception):  # an unreleased lease expires by itself
            if self.mine():
                # one DELETE (obstore deletes in bulk, which s3proxy does not implement)
                (self.lake / LOCK_NAME).delete()


@contextlib.contextmanager
def lease_lock(lake: Location, wait_seconds: float = 0.0, lease_seconds: float = 30.0) -> Iterator[None]:
    """Hold the lease lock of a lake on object storage (see the module docstring); wait up to
    `wait_seconds` for it, else raise `LakeBusy`. `StorageError` when the store cannot be reached."""
    key = str(lake)
    if key in _HELD:
        yield
        return
    lake.check()  # a missing bucket or refused credentials: one line naming endpoint and bucket
    lease = _Lease(lake, lease_seconds, holder_text())
    deadline = time.monotonic() + wait_seconds
    while (busy := lease.try_take()) is not None:
        if time.monotonic() >= deadline:
            raise LakeBusy(f"{busy}; wait for it to finish or pass --wait SECONDS")
        time.sleep(min(1.0, max(0.2, lease_seconds / 10)))
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(lease, stop), name="lake-lock-heartbeat", daemon=True)
    beat.start()
    _HELD[key] = lease
    try:
        yield
    finally:
        _HELD.pop(key, None)
        stop.set()
        beat.join(timeout=10)
        lease.release()


def _heartbeat(lease: _Lease, stop: threading.Event) -> None:
    while not stop.wait(lease.lease_seconds / 3) and not lease.lost.is_set():
        try:
            lease.renew()
        except StorageError as exc:  # the store is down: keep trying while the lease lasts
            log.warning("could not renew the lake lock: %s", exc)
        except Exception:  # anything else: this run can no longer vouch for its lease, so it stops writing
            lease.lost.set()
            log.exception("lost the lake lock at %s: renewing it failed; this run stops before its next write",
                          lease.lake)
