"""silver.sales_targets: latest upload only, cleaning, duplicates, and rejects."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.bronze import sales_targets as bronze_targets
from lakehouse.silver import sales_targets
from tests.unit.silver_rows import bronze, day, frame, rejected


def line(no: int, country: str | None, month: str | None, target: str | None, upload: int = 2) -> dict[str, object]:
    return {
        "country": country,
        "month": month,
        "target_revenue_eur": target,
        "_line_no": no,
        "_batch_id": f"upload-{upload}",
        "_ingested_at": dt.datetime(2026, 1, 5 if upload == 2 else 1),
        "_source": "targets/sales_targets.csv",
    }


BRONZE = [
    # the previous upload: ignored entirely
    line(2, "DE", "2026-01", "500", upload=1),
    line(3, "BE", "2026-01", "700", upload=1),
    # the latest upload
    line(2, "DE", "2026-01", "1000"),
    line(3, "de ", " 2026-02", " 1200.5 "),
    line(4, "Germny", "2026-01", "10"),
    line(5, "FR", "2026-13", "10"),
    line(6, "FR", "2026-01", "12k"),
    line(7, "FR", "2026-02", ""),
    line(8, "DE", "2026-01", "900"),
    line(9, "NL", "2026-03", "NaN"),
    line(10, "NL", "2026-01", "1e3"),
    line(11, "FR", "2026-01", "300"),  # line 6 was rejected, so this is the first good FR 2026-01
    line(12, None, "2026-01", "1"),
    line(13, "NL", "2026-1", "1"),
    line(14, "BE", "2026-01", None),
]


def test_latest_upload_is_cleaned_and_typed(spark: SparkSession) -> None:
    built = sales_targets.build_sales_targets(bronze(spark, bronze_targets.SCHEMA, BRONZE))
    expected = frame(
        spark,
        sales_targets.SPEC.schema,
        [
            ("DE", "2026-01", day("2026-01-01"), 1000.0),
            ("DE", "2026-02", day("2026-02-01"), 1200.5),
            ("NL", "2026-01", day("2026-01-01"), 1000.0),
            ("FR", "2026-01", day("2026-01-01"), 300.0),
        ],
    )
    assert_df_equality(built.rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_rejects(spark: SparkSession) -> None:
    built = sales_targets.build_sales_targets(bronze(spark, bronze_targets.SCHEMA, BRONZE))
    assert rejected(built, "_line_no", "country") == sorted(
        [
            ("silver.sales_targets", "country_invalid", 4, "Germny"),
            ("silver.sales_targets", "month_invalid", 5, "FR"),
            ("silver.sales_targets", "target_not_numeric", 6, "FR"),
            ("silver.sales_targets", "target_not_numeric", 7, "FR"),
            ("silver.sales_targets", "duplicate_target", 8, "DE"),
            ("silver.sales_targets", "target_not_numeric", 9, "NL"),
            ("silver.sales_targets", "country_invalid", 12, None),
            ("silver.sales_targets", "month_invalid", 13, "NL"),
            ("silver.sales_targets", "target_not_numeric", 14, "BE"),
        ],
        key=repr,
    )
    # rejects keep the raw text as uploaded
    raw = built.rejects.where("row_json LIKE '%\"_line_no\":7%'").first()
    assert raw is not None and '"target_revenue_eur":""' in raw["row_json"]
    spec = sales_targets.SPEC
    assert (spec.name, spec.key, spec.partition_by) == (
        "silver.sales_targets",
        ("country", "month"),
        (),
    )
