"""FX rates over HTTP: the provider's `/v1/meta` and `/v1/rates` endpoints, with timeouts and
retries with exponential backoff. An API that stays down raises `SourceUnavailable`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import httpx
from tenacity import RetryError, retry, retry_if_exception, stop_after_attempt, wait_exponential

from lakehouse.config import FxConfig
from lakehouse.sources.app_db import SourceUnavailable

log = logging.getLogger(__name__)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


class FxClient:
    """A small client for the rates API (base EUR)."""

    def __init__(self, base_url: str, config: FxConfig) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        @retry(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.config.attempts),
            wait=wait_exponential(multiplier=self.config.backoff_seconds, max=10),
            reraise=False,
        )
        def attempt() -> Any:
            response = httpx.get(f"{self.base_url}{path}", params=params, timeout=self.config.timeout_seconds)
            response.raise_for_status()
            return response.json()

        try:
            return attempt()
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise SourceUnavailable(
                f"FX rates API {self.base_url}{path} failed {self.config.attempts} times; last error: {cause!r}"
            ) from cause
        except httpx.HTTPStatusError as exc:
            raise SourceUnavailable(f"FX rates API {self.base_url}{path}: {exc}") from exc

    def meta(self) -> dict[str, Any]:
        return dict(self._get("/v1/meta"))

    def rates(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        body = self._get("/v1/rates", {"start": start.isoformat(), "end": end.isoformat()})
        return list(body["rates"])
