"""Delta commits that lost a race: which errors say so, and retrying the write that lost.

Two writers of one table (threads of one run sharing `silver.rejects`, or runs on a lake whose
engine commits optimistically) can race for the same Delta version; the loser's write is
recomputed and committed again.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


# What the engines raise when another writer committed the same Delta version first (measured:
# Sail "Failed to commit transaction", delta-spark's Concurrent*Exception / ProtocolChanged /
# MetadataChanged, delta-rs' CommitFailedError), matched as whole names, not loose words.
COMMIT_CONFLICT = re.compile(
    r"\b(?:Concurrent[A-Za-z]*Exception|ProtocolChangedException|MetadataChangedException|CommitFailedError)\b"
    r"|Failed to commit transaction"
)


def is_commit_conflict(error: BaseException) -> bool:
    return COMMIT_CONFLICT.search(f"{type(error).__name__}: {error}") is not None


_retrying = threading.local()  # set while a retried write runs: the writes it calls are not retried again


def retry_conflicts(write: Callable[..., None]) -> Callable[..., None]:
    """Retry a Delta write that lost a commit race (the write is recomputed and committed again).
    A retried write that calls another (an upsert that overwrites) retries as a whole, once: the
    inner write is not retried on its own."""

    @functools.wraps(write)
    def wrapped(*args: Any, **kwargs: Any) -> None:
        if getattr(_retrying, "active", False):
            write(*args, **kwargs)
            return
        # imported on first write: tenacity (and the asyncio it loads) is a tenth of a second of
        # start-up that read-only commands such as `lakehouse sql` do not need
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

        _retrying.active = True
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(12),  # a writer can lose several races in a row to a faster one
                wait=wait_random_exponential(multiplier=0.2, max=5),
                retry=retry_if_exception(is_commit_conflict),
                reraise=True,
            ):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        log.warning("Delta commit conflict on %s: retrying", write.__name__)
                    write(*args, **kwargs)
        finally:
            _retrying.active = False

    return wrapped
