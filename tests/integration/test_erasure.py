"""Erasure reaches every file: after an erasure request, a run and `maintain --purge-erased`, no file
under the lake (data files of every version, the Delta logs, checkpoints, sidecars) holds the
erased customer's email or name; time travel cannot bring them back; a second purge changes no
table; a replay of the CRM dead letters cannot put them back in the CRM."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from pyspark.sql import functions as F

from lakehouse.config import Config
from lakehouse.maintenance import PURGES, purge_erased
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.reverse_etl import ledger
from lakehouse.reverse_etl.sync import replay, sync
from lakehouse.storage import Lake
from tests.integration import lakes

pytestmark = pytest.mark.integration
CUSTOMER_JOBS = ["bronze_app_db", "silver_customers", "gold_customer_features", "gold_customer_segments"]


def files_holding(root: Path, needles: list[str]) -> dict[str, set[str]]:
    """Every file under `root` (relative path) holding one of `needles`: its raw bytes searched,
    and a Parquet file's decoded values too (its pages may be compressed)."""
    found: dict[str, set[str]] = {}
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        hits = lakes.bytes_holding(file.read_bytes(), needles)
        if hits:
            found[str(file.relative_to(root))] = hits
    return found


def _tables(found: dict[str, set[str]]) -> set[str]:
    return {".".join(Path(f).parts[:2]) for f in found}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()
            and not str(p.relative_to(root)).startswith(("ops/purges", "_staging"))}


def _run(config: Config, lake: Lake, jobs: list[str]) -> None:
    summary = run_jobs(config, lake, select_jobs(jobs))
    assert not summary.failed, [(r.job, r.error) for r in summary.failed]


def _others(lake: Lake, customer: int) -> tuple[list[str], list[str]]:
    rejects = lake.read("silver.rejects").where(
        (F.col("table") != "silver.customers")
        | ~F.get_json_object("row_json", "$.customer_id").cast("long").eqNullSafe(customer))
    dead = lake.read(ledger.DEAD).where(F.col("customer_id") != customer)
    return (sorted(r[0] for r in rejects.select("row_json").collect()),
            sorted(f"{r[0]} {r[1]}" for r in dead.select("payload", "error").collect()))


def _crm_emails(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        return {r[0] for r in connection.execute("SELECT email FROM crm.contacts").fetchall()}


def test_purge_erases_a_customer_from_every_file(
    spark, world_copy: Config, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(spark, world_copy.lake_dir)
    lake.register_all()
    app_db = world_copy.sources_dir / "app.db"
    segments = {r[0] for r in lake.read("gold.customer_segments").select("customer_id").collect()}
    with sqlite3.connect(app_db) as db:  # a customer in the segments whose name no one else has
        unique = db.execute(
            "SELECT customer_id, email, name FROM customers c WHERE "
            "(SELECT count(*) FROM customers d WHERE d.name = c.name) = 1 ORDER BY customer_id"
        ).fetchall()
    customer, email, name = next(r for r in unique if r[0] in segments)
    # a changed version with a malformed email is rejected: silver.rejects then holds the row
    with sqlite3.connect(app_db) as db:
        db.execute("UPDATE customers SET email = ?, updated_at = '2098-01-01 00:00:00' WHERE customer_id = ?",
                   (email.replace("@", "@@"), customer))
    _run(world_copy, lake, ["bronze_app_db", "silver_customers"])
    with sqlite3.connect(app_db) as db:
        db.execute("UPDATE customers SET email = ?, updated_at = '2098-01-02 00:00:00' WHERE customer_id = ?",
                   (email, customer))
    _run(world_copy, lake, CUSTOMER_JOBS)
    # the CRM refuses the batch holding this customer once: its contacts become dead letters
    crm = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    monkeypatch.setenv("LAKEHOUSE_CRM_URL", crm)
    with psycopg.connect(crm, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA crm")
        connection.execute("CREATE TABLE crm.contacts (customer_id bigint PRIMARY KEY, email text, country text, "
                           "segment text, churn_probability double precision, lifetime_value_eur double precision, "
                           "updated_at text, synced_at timestamptz NOT NULL DEFAULT now(), "
                           "CONSTRAINT refused CHECK (email <> %s))".replace("%s", "'" + email + "'"))
    assert customer in {c.customer_id for c, *_ in sync(world_copy, lake, "postgres").failed}
    # the erasure request; the run scrubs bronze and silver, the segments drop the customer
    with sqlite3.connect(app_db) as db:
        db.execute("DELETE FROM customers WHERE customer_id = ?", (customer,))
        db.execute("INSERT INTO erasure_requests VALUES (?, '2099-01-01 00:00:00')", (customer,))
    _run(world_copy, lake, CUSTOMER_JOBS)
    sync(world_copy, lake, "postgres")
    for table in ("bronze.customers", "silver.customers", "gold.customer_segments"):
        current = lake.read(table)
        assert current.where((F.col("email") == email) | (F.col("customer_id") == customer) & (
            F.col("email").isNotNull())).count() == 0, table

    before = files_holding(lake.root.local_path, [email, name])
    assert {"bronze.customers", "silver.customers", "gold.customer_segments", "silver.rejects",
            "ops.sync_dead_letter"} <= _tables(before), sorted(before)
    assert any("_delta_log" in f and f.endswith(".json") for f in before), sorted(before)  # column statistics
    rows = {t: lake.read(t).count() for t in ("bronze.customers", "silver.customers", "gold.customer_segments")}
    others = _others(lake, customer)  # other customers' rejects and dead letters: left as they are
    assert others[1]

    purged = purge_erased(lake)

    assert files_holding(lake.root.local_path, [email, name]) == {}
    assert {r.table for r in purged} >= {"bronze.customers", "silver.customers", "gold.customer_segments",
                                         "silver.rejects", "ops.sync_dead_letter"}
    assert {t: lake.read(t).count() for t in rows} == rows  # only personal values went, no rows
    assert _others(lake, customer) == others
    for table in rows:  # time travel to before the purge: the version is gone
        try:
            old = lake.read(table, version=0)
            assert old.where((F.col("customer_id") == customer) & F.col("email").isNotNull()).count() == 0
        except Exception as exc:  # noqa: BLE001  (either engine's own error for a version that is gone)
            assert "version" in str(exc).lower() or "not" in str(exc).lower(), exc
    log = lake.read(PURGES).toPandas()
    assert set(log["table"]) == {r.table for r in purged}
    assert (log["purged_by"].str.len() > 0).all() and (log["files_rewritten"] >= 0).all()

    after_first = _snapshot(lake.root.local_path)
    assert purge_erased(lake) == []  # the second purge finds nothing to do ...
    assert _snapshot(lake.root.local_path) == after_first  # ... and changes no file of any table
    assert len(lake.read(PURGES).toPandas()) == len(log) + 1  # (it is logged all the same)

    # the CRM takes the contact now, but a replay of the dead letters sends a delete for it
    with psycopg.connect(crm, autocommit=True) as connection:
        connection.execute("ALTER TABLE crm.contacts DROP CONSTRAINT refused")
    assert customer in set(ledger.dead_letters(lake, "postgres")["customer_id"])
    replay(world_copy, lake, "postgres")
    assert email not in _crm_emails(crm)
    assert files_holding(lake.root.local_path, [email, name]) == {}
