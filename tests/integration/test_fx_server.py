"""The bundled FX rates provider over real HTTP on localhost, checked against the rates CSV."""

from __future__ import annotations

import csv
import datetime as dt
import time
from pathlib import Path

import httpx
import pytest

from lakehouse.generate.fx import daily_rates, write_rates_csv
from lakehouse.generate.fx_server import FxServer
from lakehouse.generate.model import Clock

pytestmark = pytest.mark.integration
START = dt.date(2026, 1, 1)


@pytest.fixture
def rates_csv(tmp_path: Path) -> Path:
    path = tmp_path / "fx" / "rates.csv"
    write_rates_csv(path, Clock(START), daily_rates(seed=5, days=10))
    return path


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_meta_describes_the_file(rates_csv: Path) -> None:
    rows = _csv_rows(rates_csv)
    with FxServer(rates_csv, port=0) as server:
        assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
        assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
        meta = httpx.get(f"{server.url}/v1/meta").json()
    assert meta["base"] == "EUR"
    assert (meta["first_date"], meta["last_date"]) == (rows[0]["date"], rows[-1]["date"])
    assert (meta["first_date"], meta["last_date"]) == ("2026-01-01", "2026-01-10")
    assert sorted(meta["currencies"]) == sorted({r["currency"] for r in rows})


def test_rates_of_an_inclusive_range_equal_the_csv_rows(rates_csv: Path) -> None:
    expected = [
        {"date": r["date"], "currency": r["currency"], "rate": float(r["rate"])}
        for r in _csv_rows(rates_csv)
        if "2026-01-03" <= r["date"] <= "2026-01-05"
    ]
    with FxServer(rates_csv) as server:
        response = httpx.get(f"{server.url}/v1/rates", params={"start": "2026-01-03", "end": "2026-01-05"})
    assert response.status_code == 200
    body = response.json()
    assert body["base"] == "EUR"
    assert body["rates"] == expected
    assert len(expected) == 3 * 7 and {r["rate"] for r in expected if r["currency"] == "EUR"} == {1.0}


@pytest.mark.parametrize("query", [
    {"start": "2026-01-03"},
    {"start": "2026-13-01", "end": "2026-01-05"},
    {"start": "yesterday", "end": "2026-01-05"},
    {"start": "2026-01-05", "end": "2026-01-03"},
])
def test_a_bad_or_missing_date_is_a_400_with_a_json_error(rates_csv: Path, query: dict[str, str]) -> None:
    with FxServer(rates_csv) as server:
        response = httpx.get(f"{server.url}/v1/rates", params=query)
    assert response.status_code == 400
    assert response.json()["error"]


def test_an_unknown_path_is_a_404(rates_csv: Path) -> None:
    with FxServer(rates_csv) as server:
        assert httpx.get(f"{server.url}/v2/rates").status_code == 404


def test_fail_first_answers_503_then_recovers(rates_csv: Path) -> None:
    with FxServer(rates_csv, fail_first=2) as server:
        statuses = [httpx.get(f"{server.url}/v1/meta").status_code for _ in range(4)]
        assert httpx.get(f"{server.url}/health").status_code == 200
    assert statuses == [503, 503, 200, 200]


def test_down_answers_503_to_every_api_request(rates_csv: Path) -> None:
    with FxServer(rates_csv, down=True) as server:
        statuses = {httpx.get(f"{server.url}{path}").status_code for path in ("/v1/meta", "/v1/rates") * 3}
    assert statuses == {503}


def test_latency_delays_every_answer(rates_csv: Path) -> None:
    with FxServer(rates_csv, latency_seconds=0.3) as server:
        began = time.monotonic()
        httpx.get(f"{server.url}/v1/meta")
        assert time.monotonic() - began >= 0.3
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{server.url}/v1/meta", timeout=0.05)


def test_a_rewritten_file_is_served_fresh(rates_csv: Path) -> None:
    with FxServer(rates_csv) as server:
        assert httpx.get(f"{server.url}/v1/meta").json()["last_date"] == "2026-01-10"
        write_rates_csv(rates_csv, Clock(START), daily_rates(seed=5, days=12))  # as `generate` extending the world
        assert httpx.get(f"{server.url}/v1/meta").json()["last_date"] == "2026-01-12"


def test_a_stopped_server_refuses_connections(rates_csv: Path) -> None:
    server = FxServer(rates_csv).start()
    url = server.url
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=1)
