"""FX rates over HTTP: the provider's `/v1/meta` and `/v1/rates` endpoints, with timeouts and
retries with exponential backoff. An API that stays down raises `SourceUnavailable`.

Every answer is checked before it is used: a body that is not JSON (an HTML error page, a cut-off
body) or not of the documented shape, and whatever the caller's `check` finds wrong with it
(`lakehouse.bronze.fx_rates.answer_checks`: missing days, rates of 0 or below), raise `BadAnswer`
with the failed checks and the URL. Answers that a new request may fix (not JSON, wrong shape,
days missing) are asked again like a 5xx; a wrong rate is not (the provider has to correct it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from tenacity import RetryError, retry, retry_if_exception, stop_after_attempt, wait_exponential

from lakehouse.config import FxConfig
from lakehouse.quality.checks import CheckResult, failed_critical
from lakehouse.sources.app_db import SourceUnavailable

log = logging.getLogger(__name__)

# The table the API's answers feed: their checks are recorded against it.
CHECKED_TABLE = "bronze.fx_rates"
# Rules of the answer checks a new request may fix (the others are the provider's to correct).
TRANSIENT_RULES = frozenset({"fx_answer_json", "fx_answer_shape", "fx_days_complete"})

Check = Callable[[Any], Sequence[CheckResult]]


class BadAnswer(Exception):
    """An answer of the rates API that failed its checks (`checks`, failed ones included)."""

    def __init__(self, url: str, checks: Sequence[CheckResult], attempts: int = 1) -> None:
        self.url, self.checks, self.attempts = url, tuple(checks), attempts
        problems = "; ".join(_problem(c) for c in failed_critical(self.checks))
        tried = f" ({attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"FX rates API {url}: {problems}{tried}")

    @property
    def transient(self) -> bool:
        return any(c.rule in TRANSIENT_RULES for c in failed_critical(self.checks))


def _problem(check: CheckResult) -> str:
    text = check.rule + (f" {check.observed}" if check.observed else "")
    return text + (f" (e.g. {check.examples[0]})" if check.examples else "")


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    if isinstance(exc, BadAnswer):
        return exc.transient
    return isinstance(exc, httpx.TransportError)


def _answer_check(rule: str, passed: bool, observed: str | None = None) -> CheckResult:
    return CheckResult(CHECKED_TABLE, rule, "critical", passed, observed, 0 if passed else 1)


def decode_json(response: httpx.Response) -> tuple[Any, CheckResult]:
    """The body as JSON and the `fx_answer_json` check (an HTML page or a broken body fails it)."""
    kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    text = response.text
    if "html" in kind or text.lstrip()[:1] == "<":
        return None, _answer_check("fx_answer_json", False, f"is HTML ({kind}), not JSON: {text.strip()[:60]!r}")
    try:
        return json.loads(text), _answer_check("fx_answer_json", True)
    except ValueError as exc:
        return None, _answer_check("fx_answer_json", False, f"is not valid JSON ({exc}): {text.strip()[:60]!r}")


class FxClient:
    """A small client for the rates API (base EUR)."""

    def __init__(self, base_url: str, config: FxConfig) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config

    def _get(
        self, path: str, params: dict[str, str] | None = None, check: Check | None = None
    ) -> tuple[Any, list[CheckResult]]:
        url = f"{self.base_url}{path}" + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")

        @retry(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.config.attempts),
            wait=wait_exponential(multiplier=self.config.backoff_seconds, max=10),
            reraise=False,
        )
        def attempt() -> tuple[Any, list[CheckResult]]:
            response = httpx.get(f"{self.base_url}{path}", params=params, timeout=self.config.timeout_seconds)
            response.raise_for_status()
            body, decoded = decode_json(response)
            checks = [decoded] + (list(check(body)) if check and decoded.passed else [])
            if failed_critical(checks):
                raise BadAnswer(url, checks)
            return body, checks

        try:
            body, checks = attempt()
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            if isinstance(cause, BadAnswer):
                raise BadAnswer(cause.url, cause.checks, self.config.attempts) from None
            raise SourceUnavailable(
                f"FX rates API {url} failed {self.config.attempts} times; last error: {cause!r}"
            ) from cause
        except httpx.HTTPStatusError as exc:
            raise SourceUnavailable(f"FX rates API {url}: {exc}") from exc
        return body, checks

    def meta(self) -> dict[str, Any]:
        """`/v1/meta`: `first_date`, `last_date` (dates) and `currencies` (codes), checked."""
        return dict(self._get("/v1/meta", check=meta_checks)[0])

    def rates(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        return self.checked_rates(start, end)[0]

    def checked_rates(
        self, start: dt.date, end: dt.date, check: Check | None = None
    ) -> tuple[list[dict[str, Any]], list[CheckResult]]:
        """`/v1/rates` from `start` to `end` inclusive and the checks it passed; `check` judges the
        list of rates once the body's shape passed its own check."""

        def checked(body: Any) -> list[CheckResult]:
            shape = rates_shape_check(body)
            return [shape] + (list(check(body["rates"])) if check and shape.passed else [])

        body, checks = self._get("/v1/rates", {"start": start.isoformat(), "end": end.isoformat()}, checked)
        return list(body["rates"]), checks


def meta_checks(body: Any) -> list[CheckResult]:
    """`/v1/meta` must be an object with ISO `first_date` <= `last_date` and a list of currency codes."""
    problem = None
    if not isinstance(body, dict):
        problem = f"is a JSON {type(body).__name__}, not an object"
    else:
        try:
            first = dt.date.fromisoformat(str(body.get("first_date")))
            last = dt.date.fromisoformat(str(body.get("last_date")))
            if first > last:
                problem = f"has first_date {first} after last_date {last}"
        except ValueError:
            problem = f"lacks ISO first_date/last_date (got {body.get('first_date')!r}, {body.get('last_date')!r})"
        currencies = body.get("currencies")
        if problem is None and not (
            isinstance(currencies, list) and currencies and all(isinstance(c, str) and c for c in currencies)
        ):
            problem = f"lacks a list of currencies (got {currencies!r})"
    return [_answer_check("fx_answer_shape", problem is None, problem and f"meta {problem}")]


def rates_shape_check(body: Any) -> CheckResult:
    """`/v1/rates` must be an object whose `rates` is a list of objects."""
    problem = None
    if not isinstance(body, dict):
        problem = f"is a JSON {type(body).__name__}, not an object"
    elif not isinstance(body.get("rates"), list):
        problem = "has no list 'rates'"
    elif not all(isinstance(item, dict) for item in body["rates"]):
        problem = "has 'rates' entries that are not objects"
    return _answer_check("fx_answer_shape", problem is None, problem and f"answer {problem}")
