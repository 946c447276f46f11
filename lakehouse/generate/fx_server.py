"""The bundled FX rates provider: serves `fx/rates.csv` over HTTP for offline use and tests.

    GET /health                        -> {"status": "ok"}
    GET /v1/meta                       -> {"base": "EUR", "first_date", "last_date", "currencies"}
    GET /v1/rates?start=D1&end=D2      -> {"base": "EUR", "rates": [{"date", "currency", "rate"}, ...]}

Dates are `YYYY-MM-DD`, the range is inclusive; a missing or bad date is a 400, an unknown path a
404, all with a JSON `{"error": ...}` body. The file is re-read when it changes, since the
generator may extend it while the server runs. For tests, `latency_seconds` delays every answer,
`fail_first=N` answers the first N `/v1/*` requests with 503 and `down=True` all of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

log = logging.getLogger(__name__)

BASE = "EUR"
# How often the serving loop checks for `stop()`: short, so tests and pipelines stop it quickly.
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RateRow:
    date: str
    currency: str
    rate: float


class RatesFile:
    """The rates CSV, loaded on first use and again whenever its size or mtime changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._rows: list[RateRow] = []

    def rows(self) -> list[RateRow]:
        """All rows in date then file order; raises FileNotFoundError when the file is missing."""
        with self._lock:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                with self.path.open(newline="") as handle:
                    rows = [RateRow(r["date"], r["currency"], float(r["rate"])) for r in csv.DictReader(handle)]
                self._rows = sorted(rows, key=lambda r: r.date)  # stable: keeps the file's currency order
                self._stamp = stamp
                log.debug("loaded %d FX rows from %s", len(rows), self.path)
            return self._rows


class FailureInjection:
    """Decides, per `/v1/*` request, whether to answer 503 (thread-safe)."""

    def __init__(self, fail_first: int, down: bool) -> None:
        self.remaining, self.down = fail_first, down
        self._lock = threading.Lock()

    def should_fail(self) -> bool:
        with self._lock:
            if self.down:
                return True
            if self.remaining > 0:
                self.remaining -= 1
                return True
            return False


def _date(value: str | None, name: str) -> dt.date:
    if not value:
        raise ValueError(f"missing query parameter '{name}' (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"query parameter '{name}' is not a date (YYYY-MM-DD): {value!r}") from None


def meta_body(rows: list[RateRow]) -> dict[str, Any]:
    currencies = list(dict.fromkeys(r.currency for r in rows))
    first, last = (rows[0].date, rows[-1].date) if rows else (None, None)
    return {"base": BASE, "first_date": first, "last_date": last, "currencies": currencies}


def rates_body(rows: list[RateRow], query: dict[str, list[str]]) -> dict[str, Any]:
    """The rates of an inclusive date range; raises ValueError for a bad or missing date."""
    start = _date(query.get("start", [None])[0], "start")
    end = _date(query.get("end", [None])[0], "end")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    low, high = start.isoformat(), end.isoformat()
    selected = [{"date": r.date, "currency": r.currency, "rate": r.rate} for r in rows if low <= r.date <= high]
    return {"base": BASE, "rates": selected}


class _Handler(BaseHTTPRequestHandler):
    server: _RatesHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        time.sleep(self.server.latency_seconds)
        status, body = self._answer(urlsplit(self.path))
        self._send(status, body)

    def _answer(self, url: SplitResult) -> tuple[int, dict[str, Any]]:
        if url.path == "/health":
            return 200, {"status": "ok"}
        if url.path not in ("/v1/meta", "/v1/rates"):
            return 404, {"error": f"no such endpoint: {url.path}"}
        if self.server.failures.should_fail():
            return 503, {"error": "rates provider temporarily unavailable"}
        try:
            rows = self.server.rates.rows()
        except FileNotFoundError:
            return 503, {"error": f"no rates file at {self.server.rates.path}"}
        except (KeyError, ValueError) as exc:
            return 500, {"error": f"rates file {self.server.rates.path} is not date,currency,rate: {exc}"}
        if url.path == "/v1/meta":
            return 200, meta_body(rows)
        try:
            return 200, rates_body(rows, parse_qs(url.query))
        except ValueError as exc:
            return 400, {"error": str(exc)}

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        log.debug("%s - %s", self.address_string(), format % args)


class _RatesHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], rates: RatesFile, failures: FailureInjection, latency: float) -> None:
        super().__init__(address, _Handler)
        self.rates, self.failures, self.latency_seconds = rates, failures, latency

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, reset) is routine here: log it instead of printing a traceback.
        log.debug("FX request from %s failed", client_address, exc_info=True)


class FxServer:
    """The rates API over a rates CSV, on a background thread (`start`) or the foreground (`serve_forever`)."""

    def __init__(self, rates_csv: Path, host: str = "127.0.0.1", port: int = 0, *, latency_seconds: float = 0.0,
                 fail_first: int = 0, down: bool = False) -> None:
        self.rates_csv, self.host, self.port = Path(rates_csv), host, port
        self.latency_seconds = latency_seconds
        self._failures = FailureInjection(fail_first, down)
        self._httpd: _RatesHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321` (the bound port once started)."""
        port = self._httpd.server_address[1] if self._httpd else self.port
        return f"http://{self.host}:{port}"

    def _bind(self) -> _RatesHTTPServer:
        if self._httpd is None:
            rates = RatesFile(self.rates_csv)
            self._httpd = _RatesHTTPServer((self.host, self.port), rates, self._failures, self.latency_seconds)
            log.info("FX rates API on %s serving %s", self.url, self.rates_csv)
        return self._httpd

    def start(self) -> FxServer:
        """Serve on a daemon thread; returns self."""
        httpd = self._bind()
        if self._thread is None:
            self._thread = threading.Thread(target=httpd.serve_forever, args=(POLL_SECONDS,), name="fx-server",
                                            daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (KeyboardInterrupt propagates after closing)."""
        httpd = self._bind()
        try:
            httpd.serve_forever()
        finally:
            httpd.server_close()
            self._httpd = None

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> FxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
