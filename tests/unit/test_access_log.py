"""The API's access log: method, path, status and time; never the query string."""

from __future__ import annotations

import logging
import logging.config

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from lakehouse.serving.app import AccessLog


def _boom(request):  # noqa: ANN001, ANN202
    raise RuntimeError("boom")


APP = Starlette(routes=[
    Route("/kpi/revenue", lambda request: PlainTextResponse("ok", status_code=201)),
    Route("/boom", _boom),
])


def test_one_line_per_request_without_the_query_string(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(AccessLog(APP))
    with caplog.at_level(logging.INFO, logger="lakehouse.serving.access"):
        assert client.get("/kpi/revenue?email=someone@example.com").status_code == 201
    lines = [r.getMessage() for r in caplog.records if r.name == "lakehouse.serving.access"]
    assert len(lines) == 1 and lines[0].startswith("GET /kpi/revenue 201 ")
    assert "example.com" not in caplog.text


def test_a_failing_request_is_logged_as_500(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(AccessLog(APP), raise_server_exceptions=False)
    with caplog.at_level(logging.INFO, logger="lakehouse.serving.access"):
        assert client.get("/boom").status_code == 500
    assert [r.getMessage().split()[:3] for r in caplog.records if r.name == "lakehouse.serving.access"] == [
        ["GET", "/boom", "500"]]


def test_nothing_is_logged_below_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lakehouse.serving.access"):
        assert TestClient(AccessLog(APP)).get("/kpi/revenue").status_code == 201
    assert not [r for r in caplog.records if r.name == "lakehouse.serving.access"]


def test_library_loggers_that_quote_queries_are_off_below_debug(capsys: pytest.CaptureFixture[str]) -> None:
    from pyspark.sql.connect.logging import logger as connect_logger

    from lakehouse.serving.logs import quiet_libraries

    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    # a server started earlier in this process may have given uvicorn's loggers handlers of their own
    # ("uvicorn" holds uvicorn's stream handler and stops propagation): route both to the root here
    isolated = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error")]
    saved = [(lg.handlers[:], lg.propagate) for lg in isolated]
    for lg in isolated:
        lg.handlers.clear()
        lg.propagate = True
    try:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})  # what uvicorn's setup does
        quiet_libraries(debug=False)
        try:
            raise RuntimeError("cannot cast 'anna@example.com' to INT")
        except RuntimeError:
            connect_logger.exception("GRPC Error received")
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    finally:
        root.removeHandler(handler)
        for lg, (handlers, propagate) in zip(isolated, saved, strict=True):
            lg.handlers[:], lg.propagate = handlers, propagate
        quiet_libraries(debug=False)
    err = capsys.readouterr().err
    assert "anna@example.com" not in err and "GRPC Error received" not in err
    assert "Exception in ASGI application (RuntimeError)" in err  # uvicorn's line stays, without the traceback
