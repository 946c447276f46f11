"""Bad answers of the FX rates API and bad uploads of the targets CSV: nothing lost, nothing
wedged, a clear one-line error, and recovery once the source is healthy again."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from lakehouse import ingest
from lakehouse.cli import app
from lakehouse.config import Config
from lakehouse.engine import get_session
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.state import IngestState
from lakehouse.storage import Lake

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 1, 7, tzinfo=dt.UTC)
CURRENCIES = {"EUR": 1.0, "USD": 1.1, "GBP": 0.85}


@pytest.fixture
def lake_config(tmp_path: Path, make_config) -> tuple[Lake, Config]:
    config = make_config(tmp_path, **{"pipeline.run_date": "2026-01-06"})
    return Lake(get_session(config), config.lake_dir), config


def _rates(first: int, last: int, skip_day: int | None = None, bad: tuple[int, str, float] | None = None) -> list:
    """(date, currency, rate) of days `first`..`last` of January 2026: USD 1.1 + day/100 and so on."""
    rows = []
    for day in range(first, last + 1):
        if day == skip_day:
            continue
        for currency, base in CURRENCIES.items():
            rate = 1.0 if currency == "EUR" else round(base + day / 100, 4)
            if bad and bad[0] == day and bad[1] == currency:
                rate = bad[2]
            rows.append((f"2026-01-{day:02d}", currency, rate))
    return rows


def _write_rates(config: Config, rows: list) -> None:
    path = config.sources_dir / "fx" / "rates.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("date,currency,rate\n" + "".join(f"{d},{c},{r}\n" for d, c, r in rows))


def _run(config: Config, lake: Lake, *jobs: str) -> dict[str, Any]:
    summary = run_jobs(config, lake, select_jobs(list(jobs)))
    return {r.job: r for r in summary.reports}


def _latest_checks(lake: Lake, table: str) -> dict[str, bool]:
    rows = lake.read("ops.dq_results").where(f"`table` = '{table}'").collect()
    newest = max(r["checked_at"] for r in rows)
    return {r["rule"]: r["passed"] for r in rows if r["checked_at"] == newest}


def _silver_rates(lake: Lake) -> list[tuple[str, str, float]]:
    """(date, currency, rate): silver's DECIMAL(18,8) rate as the float the API sent (exact here:
    the test rates have at most two decimals)."""
    rows = lake.read("silver.fx_rates").collect()
    return sorted((r["rate_date"].isoformat(), r["currency"], float(r["rate"])) for r in rows)


# -- FX: partial or wrong answers, then recovery ----------------------------------------------
@pytest.mark.parametrize(
    ("defect", "rule"),
    [
        ({"skip_day": 5}, "fx_days_complete"),
        ({"bad": (5, "USD", 0.0)}, "fx_rate_positive"),
        ({"bad": (6, "GBP", -0.85)}, "fx_rate_positive"),
    ],
    ids=["missing-day", "rate-zero", "rate-negative"],
)
def test_a_partial_or_wrong_fx_answer_lands_nothing_and_a_healthy_api_recovers(
    lake_config: tuple[Lake, Config], defect: dict, rule: str
) -> None:
    lake, config = lake_config
    _write_rates(config, _rates(1, 3))
    assert _run(config, lake, "bronze_fx", "silver_fx_rates")["bronze_fx"].status == "ok"
    assert IngestState(lake).watermark("fx") == "2026-01-03"

    _write_rates(config, _rates(1, 6, **defect))  # the provider's answer for days 4-6 is wrong
    reports = _run(config, lake, "bronze_fx", "silver_fx_rates")
    failed = reports["bronze_fx"]
    assert failed.status == "failed" and reports["silver_fx_rates"].status == "blocked"
    assert "\n" not in failed.error
    assert failed.error.startswith("FX rates API http://127.0.0.1:")
    assert "/v1/rates?start=2026-01-04&end=2026-01-06: " + rule in failed.error
    assert failed.error.endswith("nothing written, the FX watermark stays at 2026-01-03")
    assert lake.read("bronze.fx_rates").count() == 9  # days 1-3 only
    assert IngestState(lake).watermark("fx") == "2026-01-03"
    assert _latest_checks(lake, "bronze.fx_rates")[rule] is False
    assert _silver_rates(lake) == sorted(_rates(1, 3))

    _write_rates(config, _rates(1, 6))  # healthy again: the next run lands days 4-6 by itself
    reports = _run(config, lake, "bronze_fx", "silver_fx_rates")
    assert reports["bronze_fx"].status == "ok" and reports["silver_fx_rates"].status == "ok"
    assert IngestState(lake).watermark("fx") == "2026-01-06"
    assert _latest_checks(lake, "bronze.fx_rates")[rule] is True
    assert _silver_rates(lake) == sorted(_rates(1, 6))  # every rate above 0, none missing


class _ScriptedApi:
    """A real HTTP rates API whose `/v1/rates` answer the test sets (body, content type)."""

    def __init__(self, first: str, last: str) -> None:
        self.meta = {"base": "EUR", "first_date": first, "last_date": last, "currencies": list(CURRENCIES)}
        self.answer: tuple[str, str] = ("{}", "application/json")
        self.rates_requests = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                if path == "/v1/meta":
                    body, kind = json.dumps(api.meta), "application/json"
                else:
                    api.rates_requests += 1
                    body, kind = api.answer
                payload = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> _ScriptedApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def scripted_api() -> Iterator[_ScriptedApi]:
    with _ScriptedApi("2026-01-01", "2026-01-02") as api:
        yield api


@pytest.mark.parametrize(
    ("body", "kind", "observed"),
    [
        ('{"base": "EUR", "rates": [{"date": "2026-01-01", ', "application/json", "is not valid JSON"),
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", "is HTML (text/html), not JSON"),
        ('{"base": "EUR", "data": []}', "application/json", "answer has no list 'rates'"),
    ],
    ids=["cut-off-json", "html-page", "wrong-shape"],
)
def test_an_fx_answer_that_is_not_the_documented_json_is_one_line_naming_the_url(
    lake_config: tuple[Lake, Config], make_config, scripted_api: _ScriptedApi, body: str, kind: str, observed: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lake, _ = lake_config
    config = make_config(lake_config[1].data_dir, **{"sources.fx.url": scripted_api.url})
    scripted_api.answer = (body, kind)
    with pytest.raises(ingest.QualityGateFailed) as raised:
        ingest.ingest_fx(lake, config, AT)
    message = str(raised.value)
    url = f"{scripted_api.url}/v1/rates?start=2026-01-01&end=2026-01-02"
    assert message.startswith(f"FX rates API {url}: ")
    assert observed in message and "\n" not in message
    assert message.endswith("(3 attempts); nothing written, no FX watermark yet")
    assert scripted_api.rates_requests == 3  # asked again, as for a 5xx (test config: 3 attempts)
    assert not lake.exists("bronze.fx_rates") and not lake.exists("bronze.quarantine")
    assert IngestState(lake).watermark("fx") is None

    report = _run(config, lake, "bronze_fx")["bronze_fx"]  # in a run: a failed job, no traceback
    assert report.status == "failed" and report.error == message
    assert "Traceback" not in caplog.text

    scripted_api.answer = (json.dumps({"base": "EUR", "rates": [
        {"date": d, "currency": c, "rate": r} for d, c, r in _rates(1, 2)]}), "application/json")
    assert _run(config, lake, "bronze_fx")["bronze_fx"].status == "ok"
    assert lake.read("bronze.fx_rates").count() == 6
    assert IngestState(lake).watermark("fx") == "2026-01-02"


def test_reingest_fetches_a_window_again_and_silver_uses_the_refetched_rates(
    lake_config: tuple[Lake, Config], engine: str
) -> None:
    lake, config = lake_config
    _write_rates(config, _rates(1, 4))
    assert _run(config, lake, "bronze_fx", "silver_fx_rates")["silver_fx_rates"].status == "ok"

    corrected = [(d, c, r * 2 if d in ("2026-01-02", "2026-01-03") and c == "USD" else r) for d, c, r in _rates(1, 4)]
    _write_rates(config, corrected)  # the provider corrects USD of days 2-3
    assert _run(config, lake, "bronze_fx", "silver_fx_rates")["bronze_fx"].outcome.rows_in == 0  # watermark

    args = ["--env", "test", "--engine", engine, "--data-dir", str(config.data_dir), "reingest", "fx",
            "--from", "2026-01-02", "--to", "2026-01-03"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "6 rate(s) of 2026-01-02 .. 2026-01-03 landed again" in result.output
    assert IngestState(lake).watermark("fx") == "2026-01-04"  # unmoved

    assert _run(config, lake, "bronze_fx", "silver_fx_rates")["silver_fx_rates"].status == "ok"
    assert _silver_rates(lake) == sorted(corrected)

    corrected += _rates(5, 5)  # a new day: the run lands it and keeps the re-fetched batch
    _write_rates(config, corrected)
    assert _run(config, lake, "bronze_fx", "silver_fx_rates")["bronze_fx"].outcome.rows_in == 3
    assert _silver_rates(lake) == sorted(corrected)
    assert IngestState(lake).watermark("fx") == "2026-01-05"

    beyond = CliRunner().invoke(app, args[:-4] + ["--from", "2026-01-03", "--to", "2026-01-09"])
    assert beyond.exit_code == 2 and "serves 2026-01-01 to 2026-01-05" in beyond.output


# -- the targets CSV --------------------------------------------------------------------------
def _write_targets(config: Config, content: bytes) -> None:
    path = config.sources_dir / "targets" / "sales_targets.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _silver_targets(lake: Lake) -> list[tuple[str, str, float]]:
    rows = lake.read("silver.sales_targets").collect()
    return sorted((r["country"], r["month"], r["target_revenue_eur"]) for r in rows)


def _targets_quarantine(lake: Lake) -> list[tuple[int, str, str]]:
    rows = lake.read("bronze.quarantine").where("source = 'targets'").collect()
    return sorted((r["_line_no"], r["raw"], r["reason"]) for r in rows)


def test_a_semicolon_file_whose_header_names_the_columns_is_read(lake_config: tuple[Lake, Config]) -> None:
    lake, config = lake_config
    _write_targets(config, b"\xef\xbb\xbfcountry;month;target_revenue_eur\r\nDE;2026-01;1000\r\nFR;2026-01;750.5\r\n")
    reports = _run(config, lake, "bronze_targets", "silver_sales_targets")
    assert reports["bronze_targets"].status == "ok" and reports["silver_sales_targets"].status == "ok"
    assert _silver_targets(lake) == [("DE", "2026-01", 1000.0), ("FR", "2026-01", 750.5)]
    assert not lake.exists("bronze.quarantine")


def test_an_unreadable_reupload_keeps_every_line_and_the_old_targets_marked_stale(
    lake_config: tuple[Lake, Config],
) -> None:
    lake, config = lake_config
    _write_targets(config, b"country,month,target_revenue_eur\nDE,2026-01,1000\nNL,2026-01,500\n")
    assert _run(config, lake, "bronze_targets", "silver_sales_targets")["silver_sales_targets"].status == "ok"
    old = [("DE", "2026-01", 1000.0), ("NL", "2026-01", 500.0)]
    assert _silver_targets(lake) == old

    broken = ["country;month,target_revenue_eur", "DE;2026-02;1100", "NL;2026-02;550", "FR;2026-02;800"]
    _write_targets(config, ("\n".join(broken) + "\n").encode())
    for _ in range(2):  # the same bad file again: the same failure, its lines not quarantined twice
        reports = _run(config, lake, "bronze_targets", "silver_sales_targets")
        failed = reports["bronze_targets"]
        assert failed.status == "failed" and reports["silver_sales_targets"].status == "blocked"
        assert failed.error.startswith("sales targets targets/sales_targets.csv (upload ")
        assert "\n" not in failed.error and "(stale) until a readable file is uploaded" in failed.error
        lines = _targets_quarantine(lake)
        assert [(n, raw) for n, raw, _ in lines] == list(enumerate(broken, start=1))
        head = "upload not read: header 'country;month,target_revenue_eur'"
        assert all(reason.startswith(head) for *_, reason in lines)
        assert _silver_targets(lake) == old
        assert _latest_checks(lake, "silver.sales_targets")["targets_current"] is False
        assert _latest_checks(lake, "bronze.sales_targets")["targets_upload_readable"] is False

    fixed = b"country;month;target_revenue_eur\nDE;2026-02;1100\n\xe9S;2026-02;300\nNL;2026-02;550\n"
    _write_targets(config, fixed)
    reports = _run(config, lake, "bronze_targets", "silver_sales_targets")
    assert reports["bronze_targets"].status == "ok" and reports["silver_sales_targets"].status == "ok"
    assert _silver_targets(lake) == [("DE", "2026-02", 1100.0), ("NL", "2026-02", 550.0)]
    assert _latest_checks(lake, "silver.sales_targets")["targets_current"] is True
    invalid = [q for q in _targets_quarantine(lake) if "UTF-8" in q[2]]
    assert invalid == [(3, "\\xe9S;2026-02;300", "not valid UTF-8: byte(s) b'\\xe9' at offset 0")]


def test_the_last_good_targets_uploaded_again_after_a_bad_one_are_current_once(
    lake_config: tuple[Lake, Config],
) -> None:
    lake, config = lake_config
    good = b"country,month,target_revenue_eur\nDE,2026-01,1000\nNL,2026-01,500\n"
    _write_targets(config, good)
    _run(config, lake, "bronze_targets", "silver_sales_targets")
    _write_targets(config, b"land,maand,doel\nDE,2026-01,1200\n")
    assert _run(config, lake, "bronze_targets", "silver_sales_targets")["bronze_targets"].status == "failed"

    _write_targets(config, good)  # the operators put the last good file back
    reports = _run(config, lake, "bronze_targets", "silver_sales_targets")
    assert reports["bronze_targets"].status == "ok" and reports["silver_sales_targets"].status == "ok"
    assert _silver_targets(lake) == [("DE", "2026-01", 1000.0), ("NL", "2026-01", 500.0)]
    if lake.exists("silver.rejects"):  # no line twice (`duplicate_target`)
        assert lake.read("silver.rejects").where("`table` = 'silver.sales_targets'").count() == 0
    assert _latest_checks(lake, "silver.sales_targets")["targets_current"] is True
