"""The REST API over a lake on the project's S3 server while that server stops and starts again:
each route that reads the lake answers 503 in the shape of every other error (a JSON `detail`, with
`Retry-After`), names neither the endpoint nor a key, and answers as before once the store is
back. The app runs in-process (the routes read tables with delta-rs and DuckDB, not with an
engine); the lake is written with delta-rs, and the expected rows are those written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from starlette.testclient import TestClient

from lakehouse import s3server
from lakehouse.config import load_config
from lakehouse.files import Location, S3Settings
from lakehouse.serving.app import create_app

pytestmark = pytest.mark.integration
KEY = "outage-key"
ROWS = [
    {"order_date": dt.date(2026, 1, 1), "country": "DE", "category": "dairy", "orders": 2, "units": 3,
     "revenue_eur": Decimal("20.00"), "avg_order_value_eur": Decimal("10.00")},
    {"order_date": dt.date(2026, 1, 2), "country": "FR", "category": "fruit", "orders": 1, "units": 1,
     "revenue_eur": Decimal("4.50"), "avg_order_value_eur": Decimal("4.50")},
]
SCHEMA = pa.schema([("order_date", pa.date32()), ("country", pa.string()), ("category", pa.string()),
                    ("orders", pa.int64()), ("units", pa.int64()), ("revenue_eur", pa.decimal128(18, 2)),
                    ("avg_order_value_eur", pa.decimal128(18, 2))])
READS = [("GET", "/tables", None), ("GET", "/tables/gold.daily_sales", None), ("GET", "/kpi/revenue", None),
         ("POST", "/sql", {"query": "SELECT count(*) AS n FROM gold.daily_sales"})]


@pytest.fixture
def outage(engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Path, str]]:
    """An API over a one-table lake on an S3 server of its own (stopped and started by the test)."""
    if engine == "spark":
        pytest.skip("no engine is involved: the same code in either pass, tested in the embedded one")
    folder = tmp_path / "s3"
    server = s3server.start(folder)
    try:
        server.create_bucket("outage")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        lake = Location("s3://outage/lake", S3Settings.from_env(server.env()))
        table = lake / "gold" / "daily_sales"
        write_deltalake(str(table), pa.Table.from_pylist(ROWS, SCHEMA), storage_options=table.storage_options)
        config = load_config("test", overrides={"data_dir": str(tmp_path), "storage.lake_uri": str(lake)}, environ={})
        yield TestClient(create_app(config, api_keys=[KEY]), headers={"Authorization": f"Bearer {KEY}"}), \
            folder, server.secret_key
    finally:
        s3server.stop(folder)


def _answers(client: TestClient) -> list[tuple[int, dict]]:
    return [(r.status_code, r.json()) for r in (client.request(m, p, json=b) for m, p, b in READS)]


def test_a_store_outage_is_a_json_503_and_the_api_recovers_when_the_store_is_back(
    outage: tuple[TestClient, Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, folder, secret = outage
    before = _answers(client)
    assert [code for code, _ in before] == [200] * len(READS), before
    assert before[1][1]["rows"] == [{**r, "order_date": str(r["order_date"]), "revenue_eur": float(r["revenue_eur"]),
                                     "avg_order_value_eur": float(r["avg_order_value_eur"])} for r in ROWS]
    endpoint = f"http://127.0.0.1:{(folder / 'port').read_text().strip()}"

    s3server.stop(folder)
    for method, path, body in READS:  # the page answered before is in the cache: it is asked about too
        answer = client.request(method, path, json=body)
        assert answer.status_code == 503, (path, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/json" and int(answer.headers["retry-after"]) > 0
        assert set(answer.json()) == {"detail"} and "cannot be read" in answer.json()["detail"], answer.text
        assert endpoint not in answer.text and secret not in answer.text and "outage" not in answer.text
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "answered 503" in logged and secret not in logged

    s3server.start(folder)  # the same port, keys and bucket
    assert _answers(client) == before
