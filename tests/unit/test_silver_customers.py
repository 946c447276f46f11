"""silver.customers: SCD2 history, erasure, and rejects."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.bronze import app_tables
from lakehouse.silver import customers
from tests.unit.silver_rows import bronze, frame, reject_records, rejected, ts

CUSTOMERS = app_tables.schema("customers")
ERASURES = app_tables.schema("erasure_requests")


def extract(day: int) -> dict[str, object]:
    """Ingestion columns of the extract taken on 2026-01-<day>."""
    at = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
    return {"_ingested_at": at, "_batch_id": f"extract-{day}", "_source": "app_db"}


def person(
    cid: int | None,
    email: str | None,
    name: str,
    country: str | None,
    address: str,
    created: str,
    updated: str,
    day: int,
) -> dict[str, object]:
    return {
        "customer_id": cid,
        "email": email,
        "name": name,
        "country": country,
        "address": address,
        "created_at": created,
        "updated_at": updated,
        **extract(day),
    }


ANN = ("ann@x.de", "Ann")
BRONZE = [
    # customer 1: first version, re-extracted unchanged (collapses), then moves to France;
    # the move is extracted twice (one version).
    person(1, *ANN, "DE", "Berlin 1", "2026-01-01 08:00:00", "2026-01-01 09:00:00", 2),
    person(1, *ANN, "DE", "Berlin 1", "2026-01-01 08:00:00", "2026-01-02 10:00:00", 3),
    person(1, *ANN, "FR", "Paris 2", "2026-01-01 08:00:00", "2026-01-03 12:00:00", 4),
    person(1, *ANN, "FR", "Paris 2", "2026-01-01 08:00:00", "2026-01-03 12:00:00", 5),
    # customer 2 is erased: three versions (they differ in email only), one rejected version.
    person(2, "bob@y.nl", "Bob", "NL", "Amsterdam 1", "2026-01-01 00:00:00", "2026-01-01 00:00:00", 2),
    person(2, "bob2@y.nl", "Bob", "NL", "Amsterdam 1", "2026-01-01 00:00:00", "2026-01-02 00:00:00", 3),
    person(2, "bob at y", "Bob", "NL", "Amsterdam 1", "2026-01-01 00:00:00", "2026-01-03 00:00:00", 4),
    person(2, "bob3@y.nl", "Bob", "Holland", "Amsterdam 1", "2026-01-01 00:00:00", "2026-01-04 00:00:00", 5),
    # customer 3: the first extract has a bad country; history starts with the first good one.
    person(3, "cy@z.it", "Cy", "it", "Roma 3", "2026-01-01 07:00:00", "2026-01-01 07:00:00", 2),
    person(3, "cy@z.it", "Cy", "IT", "Roma 3", "2026-01-01 07:00:00", "2026-01-02 07:00:00", 3),
    # rejects
    person(None, "x@x.de", "Nobody", "DE", "-", "2026-01-01 00:00:00", "2026-01-01 00:00:00", 2),
    person(None, "y@x.de", "Nobody", "DE", "-", "2026-01-01 00:00:00", "2026-01-01 00:00:00", 2),
    person(4, "not-an-email", "Dee", "ES", "Madrid", "2026-01-01 00:00:00", "2026-01-01 00:00:00", 2),
    person(5, "e@e.pt", "Eve", "PT", "Lisboa", "2026-01-01 00:00:00", "2026-01-01T10:00:00", 2),
    person(7, "g@g.de", "Gus", "DE\n", "Bonn", "2026-01-01 00:00:00", "2026-01-01 00:00:00", 2),
    # customer 6: no email is fine
    person(6, None, "Fay", "DE", "Köln", "2026-01-01 00:00:00", "2026-01-01 00:00:00", 2),
]
ERASED = [
    {"customer_id": 2, "requested_at": "2026-01-05 00:00:00"},
    {"customer_id": 2, "requested_at": "2026-01-06 00:00:00"},
    {"customer_id": 99, "requested_at": "2026-01-05 00:00:00"},
]


def test_history_collapses_versions_dates_them_and_erases(spark: SparkSession) -> None:
    built = customers.build_customers(bronze(spark, CUSTOMERS, BRONZE), bronze(spark, ERASURES, ERASED))
    t = ts
    created1 = t("2026-01-01 08:00:00")
    # fmt: off
    expected = frame(
        spark,
        customers.SPEC.schema,
        [
            (1, *ANN, "DE", "Berlin 1", created1, t("2026-01-01 09:00:00"), created1, t("2026-01-03 12:00:00"),
             False, False),
            (1, *ANN, "FR", "Paris 2", created1, t("2026-01-03 12:00:00"), t("2026-01-03 12:00:00"), None,
             True, False),
            (2, None, None, "NL", None, t("2026-01-01 00:00:00"), t("2026-01-01 00:00:00"),
             t("2026-01-01 00:00:00"), t("2026-01-02 00:00:00"), False, True),
            (2, None, None, "NL", None, t("2026-01-01 00:00:00"), t("2026-01-02 00:00:00"),
             t("2026-01-02 00:00:00"), t("2026-01-03 00:00:00"), False, True),
            (2, None, None, "NL", None, t("2026-01-01 00:00:00"), t("2026-01-03 00:00:00"),
             t("2026-01-03 00:00:00"), None, True, True),
            (3, "cy@z.it", "Cy", "IT", "Roma 3", t("2026-01-01 07:00:00"), t("2026-01-02 07:00:00"),
             t("2026-01-01 07:00:00"), None, True, False),
            (6, None, "Fay", "DE", "Köln", t("2026-01-01 00:00:00"), t("2026-01-01 00:00:00"),
             t("2026-01-01 00:00:00"), None, True, False),
        ],
    )
    # fmt: on
    assert_df_equality(built.rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_rejects_name_the_first_failing_rule(spark: SparkSession) -> None:
    built = customers.build_customers(bronze(spark, CUSTOMERS, BRONZE), bronze(spark, ERASURES, ERASED))
    assert rejected(built, "customer_id", "updated_at") == sorted(
        [
            ("silver.customers", "country_invalid", 2, "2026-01-04 00:00:00"),
            ("silver.customers", "country_invalid", 3, "2026-01-01 07:00:00"),
            ("silver.customers", "country_invalid", 7, "2026-01-01 00:00:00"),
            ("silver.customers", "customer_id_missing", None, "2026-01-01 00:00:00"),
            ("silver.customers", "customer_id_missing", None, "2026-01-01 00:00:00"),
            ("silver.customers", "email_malformed", 4, "2026-01-01 00:00:00"),
            ("silver.customers", "updated_at_invalid", 5, "2026-01-01T10:00:00"),
        ],
        key=repr,
    )


def test_rejects_carry_the_bronze_row_but_no_erased_personal_data(spark: SparkSession) -> None:
    built = customers.build_customers(bronze(spark, CUSTOMERS, BRONZE), bronze(spark, ERASURES, ERASED))
    records = {(r.get("customer_id"), r["updated_at"]): r for r in reject_records(built)}
    assert records[(4, "2026-01-01 00:00:00")] == {
        "customer_id": 4,
        "email": "not-an-email",
        "name": "Dee",
        "country": "ES",
        "address": "Madrid",
        "created_at": "2026-01-01 00:00:00",
        "updated_at": "2026-01-01 00:00:00",
        "_ingested_at": "2026-01-02 00:00:00",
        "_source": "app_db",
        "_batch_id": "extract-2",
    }
    erased = records[(2, "2026-01-04 00:00:00")]
    assert erased["country"] == "Holland" and not {"email", "name", "address"} & set(erased)
    assert not any("bob" in r["row_json"].lower() for r in built.rejects.collect())


def test_no_erasure_requests_and_output_contract(spark: SparkSession) -> None:
    rows = [person(1, *ANN, "DE", "Berlin 1", "2026-01-01 08:00:00", "2026-01-01 09:00:00", 2)]
    built = customers.build_customers(bronze(spark, CUSTOMERS, rows), spark.createDataFrame([], ERASURES))
    assert built.rows.columns == customers.SPEC.schema.fieldNames()
    got = built.rows.collect()
    assert len(got) == 1 and got[0]["is_erased"] is False and got[0]["email"] == "ann@x.de"
    assert built.rejects.count() == 0
    assert customers.SPEC.name == "silver.customers" and customers.SPEC.key == ("customer_id", "valid_from")
    assert customers.SPEC.partition_by == ()
