"""Incremental silver and gold, and backfills, on a fully built world: new days (late and
repeated telemetry included) are processed as increments, and every table then equals a full
rebuild of a copy; a crash before an increment is recorded changes nothing; a backfill
recomputes exactly the dates asked for."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy
from deltalake import DeltaTable

from lakehouse import incremental
from lakehouse.backfill import NotDateKeyed, backfill, select_backfill_jobs
from lakehouse.config import Config
from lakehouse.generate import generate_world
from lakehouse.pipeline import run_jobs, select_jobs
from lakehouse.storage import Lake
from tests.conftest import WORLD_DAYS, WORLD_SCALE, WORLD_SEED

pytestmark = pytest.mark.integration
# The incremental jobs and what feeds them (the rest of the pipeline is covered elsewhere; leaving
# it out keeps these tests quick on the JVM).
JOBS = ("bronze_clickstream", "bronze_telemetry", "silver_events", "silver_telemetry", "gold_cold_chain_daily")
COMPARED = ("silver.events", "silver.telemetry", "silver.rejects", "gold.cold_chain_daily")


def _extend(config: Config, days: int) -> None:
    generate_world(config.sources_dir, config.app_db_url, scale=WORLD_SCALE, seed=WORLD_SEED, days=days,
                   start_date=config.generator.start_date, progress=False)


def _run(config: Config, lake: Lake, full: bool = False, jobs: tuple[str, ...] = JOBS):
    summary = run_jobs(config, lake, select_jobs(list(jobs)), full=full)
    assert not summary.failed, [(r.job, r.error) for r in summary.failed]
    return summary


def _table(lake: Lake, table: str) -> pd.DataFrame:
    """A table's rows through delta-rs, in a canonical order (run ids and times left out)."""
    frame = DeltaTable(str(lake.path(table))).to_pandas()
    columns = sorted(c for c in frame.columns if c not in ("batch_id", "rejected_at"))
    return frame[columns].sort_values(columns).reset_index(drop=True)


def _assert_equal_to_full_rebuild(config: Config, lake: Lake, make_config, tmp_path: Path,
                                  jobs: tuple[str, ...] = JOBS, compared: tuple[str, ...] = COMPARED) -> None:
    rebuilt_dir = tmp_path / "rebuilt"
    shutil.copytree(config.data_dir, rebuilt_dir)
    # first landings kept in at least three buckets of keys, as a rebuild of a long history is
    smallest = min(lake.row_count(t) for t in ("bronze.events", "bronze.telemetry"))
    rebuilt = make_config(rebuilt_dir, **{"pipeline.rebuild_bucket_rows": max(1, smallest // 3)})
    rebuilt_lake = Lake(lake.spark, rebuilt.lake_dir)
    _run(rebuilt, rebuilt_lake, full=True, jobs=jobs)
    for table in compared:
        pd.testing.assert_frame_equal(_table(lake, table), _table(rebuilt_lake, table), obj=table)


def _last_commit(lake: Lake, table: str) -> tuple[str, str]:
    commit = DeltaTable(str(lake.path(table))).history(1)[0]
    return commit["operation"], str((commit.get("operationParameters") or {}).get("mode", "")).lower()


def _increment(lake: Lake, job: str) -> incremental.Mark:
    mark = incremental.Increments(lake).last(job)
    assert mark is not None, f"{job} recorded no increment"
    return mark


def test_new_days_run_as_increments_and_equal_a_full_rebuild(world_copy: Config, spark, make_config,
                                                             tmp_path: Path) -> None:
    lake = Lake(spark, world_copy.lake_dir)
    silver_before = _table(lake, "silver.telemetry")
    last_day = silver_before["reading_date"].max()
    gold_before = _table(lake, "gold.cold_chain_daily")
    _extend(world_copy, WORLD_DAYS + 2)
    summary = _run(world_copy, lake)
    notes = {r.job: r.outcome.note for r in summary.reports}
    for job in ("silver_events", "silver_telemetry", "gold_cold_chain_daily"):
        assert notes[job].startswith("incremental"), (job, notes[job])
        assert _increment(lake, job).mode == "incremental"
    for table in ("silver.events", "silver.telemetry"):  # nothing else wrote them: the new keys are appended
        assert _last_commit(lake, table) == ("WRITE", "append"), table

    # late readings: new rows dated before the last day already in silver
    silver_after = _table(lake, "silver.telemetry")
    merged = silver_after.merge(silver_before, how="left", indicator=True)
    new_rows = merged[merged["_merge"] == "left_only"]
    late = set(new_rows.loc[new_rows["reading_date"] <= last_day, "reading_date"])
    assert late, "the extension has no late telemetry to test with"
    # the gold increment recomputed the dates it touched and no others
    touched = set(_increment(lake, "gold_cold_chain_daily").dates)
    assert late <= touched and len(touched) < gold_before["reading_date"].nunique()
    gold_after = _table(lake, "gold.cold_chain_daily")
    untouched = ~gold_after["reading_date"].isin(touched)
    pd.testing.assert_frame_equal(
        gold_after[untouched].reset_index(drop=True),
        gold_before[~gold_before["reading_date"].isin(touched)].reset_index(drop=True),
    )
    _assert_equal_to_full_rebuild(world_copy, lake, make_config, tmp_path)


ORDER_JOBS = ("bronze_app_db", "bronze_fx", "bronze_clickstream", "silver_customers", "silver_products",
              "silver_orders", "silver_fx_rates", "silver_order_lines", "silver_events", "gold_daily_sales",
              "gold_funnel_daily")
GROUPED = ("silver_customers", "silver_orders", "silver_order_lines")


def _change_app_db(config: Config, sql: str, **params: object) -> None:
    """Change the app database as the app would, at the newest time in it (so the next extract
    takes the change)."""
    engine = sqlalchemy.create_engine(config.app_db_url)
    with engine.begin() as connection:
        latest = connection.execute(sqlalchemy.text("SELECT max(updated_at) FROM orders")).scalar_one()
        connection.execute(sqlalchemy.text(sql), {"at": latest, **params})
    engine.dispose()


def _most_dated_customer_with_personal_data(lake: Lake, lines: pd.DataFrame) -> int:
    """The customer, not erased and with personal data in bronze, whose lines span the most dates."""
    bronze = _table(lake, "bronze.customers")
    erased = set(_table(lake, "bronze.erasure_requests")["customer_id"].astype("int64"))
    holding = set(bronze.loc[bronze["email"].notna(), "customer_id"].astype("int64")) - erased
    dates = lines[lines["customer_id"].isin(holding)].groupby("customer_id")["order_date"].nunique()
    assert dates.max() > 10, "no customer with orders on enough dates to test an erasure with"
    return int(dates.idxmax())


def _run_order_increment(config: Config, lake: Lake) -> tuple[set[dt.date], dict[str, int]]:
    """Run the order chain; its grouped jobs and the gold over them must go on as increments.
    The dates of silver.order_lines rewritten, and the rows each job wrote."""
    summary = _run(config, lake, jobs=ORDER_JOBS)
    notes = {r.job: r.outcome.note for r in summary.reports}
    for job in (*GROUPED, "gold_daily_sales", "gold_funnel_daily"):
        assert notes[job].startswith("incremental"), (job, notes[job])
        marks = incremental.Increments(lake).last_inputs(job)
        assert {m.mode for m in marks.values()} == {"incremental"}, job
    touched = set(incremental.Increments(lake).last_inputs("silver_order_lines")["bronze.order_items"].dates)
    return touched, {r.job: r.outcome.rows_out for r in summary.reports}


def test_orders_and_their_lines_follow_every_input_as_increments(world_copy: Config, spark, make_config,
                                                                 tmp_path: Path) -> None:
    """New days bring new orders, status changes, customers who move or ask to be erased; an item
    of the first day's order is corrected, and the customer with orders on the most dates asks to
    be erased. Only the customers and orders those reach are recomputed, gold only on the dates
    they touched, and the result equals a full rebuild. (What each kind of change reaches, a
    product rename included, is tested on inline rows in tests/unit/test_silver_order_lines.py.)"""
    lake = Lake(spark, world_copy.lake_dir)
    before = _table(lake, "silver.order_lines")
    sales_before, funnel_before = _table(lake, "gold.daily_sales"), _table(lake, "gold.funnel_daily")
    customers_before = lake.row_count("silver.customers")  # versions
    oldest = before["order_date"].min()
    line = before[before["order_date"] == oldest].iloc[0]
    erased = _most_dated_customer_with_personal_data(lake, before)
    erased_dates = set(before.loc[before["customer_id"] == erased, "order_date"])
    _extend(world_copy, WORLD_DAYS + 2)
    _change_app_db(world_copy, "UPDATE order_items SET quantity = quantity + 10, updated_at = :at "
                   "WHERE order_id = :order AND line_no = :line",
                   order=int(line["order_id"]), line=int(line["line_no"]))
    _change_app_db(world_copy, "INSERT INTO erasure_requests (customer_id, requested_at) VALUES (:customer, :at)",
                   customer=erased)
    touched, written = _run_order_increment(world_copy, lake)

    # the erasure scrubbed bronze in place, a change recorded with the customers it touched; the
    # customer's versions were recomputed, their lines (which hold no personal data) were not
    bronze = _table(lake, "bronze.customers")
    assert bronze.loc[bronze["customer_id"] == erased, ["email", "name", "address"]].isna().all().all()
    assert _last_commit(lake, "bronze.customers")[0] != "WRITE"
    scrubs = lake.rows(incremental.REWRITES_TABLE, [("table", "=", "bronze.customers")])
    assert erased in json.loads(max(scrubs, key=lambda r: r["version"])["keys"])
    versions = _table(lake, "silver.customers")
    assert versions.loc[versions["customer_id"] == erased, "is_erased"].all()
    assert len(erased_dates - touched) > len(erased_dates) // 2, (sorted(erased_dates), sorted(touched))

    after = _table(lake, "silver.order_lines")
    corrected = after[(after["order_id"] == line["order_id"]) & (after["line_no"] == line["line_no"])]
    assert corrected["quantity"].tolist() == [line["quantity"] + 10]
    # the first day (the corrected item), the new day and the orders whose status moved: not every date
    assert oldest in touched and len(touched) < after["order_date"].nunique(), sorted(touched)
    pd.testing.assert_frame_equal(after[~after["order_date"].isin(touched)].reset_index(drop=True),
                                  before[~before["order_date"].isin(touched)].reset_index(drop=True))
    marks = incremental.Increments(lake)
    # the customers with new extracts or erasures, not all of them
    assert 0 < written["silver_customers"] < customers_before
    # gold: daily sales on exactly the dates of the lines rewritten; the funnel on those of the
    # events and orders rewritten; every other date as it was
    assert set(marks.last_inputs("gold_daily_sales")["silver.order_lines"].dates) == touched
    funnel_dates = set(marks.last_inputs("gold_funnel_daily")["silver.events"].dates)
    expected_funnel = {d for job in ("silver_events", "silver_orders") for m in marks.last_inputs(job).values()
                       for d in m.dates}
    assert funnel_dates == expected_funnel and len(funnel_dates) < funnel_before["event_date"].nunique()
    for table, column, dates, old in (("gold.daily_sales", "order_date", touched, sales_before),
                                      ("gold.funnel_daily", "event_date", funnel_dates, funnel_before)):
        new = _table(lake, table)
        pd.testing.assert_frame_equal(new[~new[column].isin(dates)].reset_index(drop=True),
                                      old[~old[column].isin(dates)].reset_index(drop=True), obj=table)

    _assert_equal_to_full_rebuild(world_copy, lake, make_config, tmp_path, ORDER_JOBS,
                                  ("silver.customers", "silver.orders", "silver.order_lines", "silver.rejects",
                                   "gold.daily_sales", "gold.funnel_daily"))


def test_a_change_of_bronze_no_rewrite_recorded_rebuilds_the_customers(world_copy: Config, spark,
                                                                         make_config, tmp_path: Path) -> None:
    """An update of bronze.customers that names no customers (by hand, not the erasure scrub): the
    job cannot know whose rows changed, so it rebuilds the table."""
    lake = Lake(spark, world_copy.lake_dir)
    customer = lake.read("silver.customers").where("NOT is_erased").orderBy("customer_id").first()
    assert customer is not None
    spark.sql(f"UPDATE delta.`{lake.path('bronze.customers')}` SET country = 'nowhere' "
              f"WHERE customer_id = {customer['customer_id']}")
    _run(world_copy, lake, jobs=("silver_customers",))
    assert {m.mode for m in incremental.Increments(lake).last_inputs("silver_customers").values()} == {"full"}
    # every version of theirs now fails the country rule: none is left in the table
    assert lake.read("silver.customers").where(f"customer_id = {customer['customer_id']}").count() == 0
    _assert_equal_to_full_rebuild(world_copy, lake, make_config, tmp_path, ("silver_customers",),
                                  ("silver.customers", "silver.rejects"))


def test_a_table_laid_out_otherwise_is_rebuilt_in_its_own_layout(world_copy: Config, spark, make_config,
                                                                 tmp_path: Path) -> None:
    """silver.orders as an earlier version of its job wrote it (not partitioned): the next run
    cannot replace the dates it touches, so it rebuilds the table, partitioned by order_date."""
    lake = Lake(spark, world_copy.lake_dir)
    with lake.staging() as stage:
        lake.overwrite(lake.stage_frame(lake.read("silver.orders"), stage, "orders"), "silver.orders")
    assert DeltaTable(str(lake.path("silver.orders"))).metadata().partition_columns == []
    _extend(world_copy, WORLD_DAYS + 1)
    _run(world_copy, lake, jobs=("bronze_app_db", "silver_orders"))
    assert {m.mode for m in incremental.Increments(lake).last_inputs("silver_orders").values()} == {"full"}
    assert DeltaTable(str(lake.path("silver.orders"))).metadata().partition_columns == ["order_date"]
    _assert_equal_to_full_rebuild(world_copy, lake, make_config, tmp_path, ("silver_orders",),
                                  ("silver.orders", "silver.rejects"))


def test_a_rebuild_by_orders_in_buckets_gives_the_one_pass_result(world_copy: Config, spark, make_config,
                                                                  tmp_path: Path, monkeypatch) -> None:
    """Full rebuilds of the tables recomputed by whole orders split their keyed inputs in buckets
    of orders and compute the buckets one after the other: the same rows and rejects as one pass."""
    one_pass_dir = tmp_path / "one-pass"
    shutil.copytree(world_copy.data_dir, one_pass_dir)
    jobs = ("silver_orders", "silver_order_lines")
    lake = Lake(spark, world_copy.lake_dir)
    split: dict[str, int] = {}
    original = Lake.split_by_key

    def recorded(self: Lake, df, keys, buckets, stage, name="split"):  # noqa: ANN001, ANN202
        parts = original(self, df, keys, buckets, stage, name)
        split[name] = len(parts)
        return parts

    monkeypatch.setattr(Lake, "split_by_key", recorded)
    smallest = min(lake.row_count(t) for t in ("bronze.orders", "bronze.order_items"))
    bucketed = make_config(world_copy.data_dir, **{"pipeline.rebuild_bucket_rows": max(1, smallest // 4)})
    _run(bucketed, lake, full=True, jobs=jobs)
    assert min(split.get(t, 0) for t in ("bronze_orders", "bronze_order_items", "silver_orders")) >= 3, split
    one_pass = make_config(one_pass_dir, **{"pipeline.rebuild_bucket_rows": 10**12})
    one_pass_lake = Lake(spark, one_pass.lake_dir)
    _run(one_pass, one_pass_lake, full=True, jobs=jobs)
    for table in ("silver.orders", "silver.order_lines", "silver.rejects"):
        pd.testing.assert_frame_equal(_table(lake, table), _table(one_pass_lake, table), obj=table)


def _redeliver_first_reading(config: Config, lake: Lake, day: str):
    """Put silver's first reading (lowest device_id, seq) again in a new file for `day`; the row."""
    first = lake.read("silver.telemetry").orderBy("device_id", "seq").first()
    assert first is not None
    late_dir = config.sources_dir / "telemetry" / f"date={day}"
    late_dir.mkdir(parents=True)
    repeat = {"device_id": first["device_id"], "seq": first["seq"], "ts": f"{day}T00:00:00Z",
              "temperature_c": 1.0, "humidity": 50.0, "battery_pct": 50.0}
    (late_dir / "readings-0000.jsonl").write_text(json.dumps(repeat) + "\n")
    return first


def test_repeated_readings_land_once_across_increments(world_copy: Config, spark) -> None:
    """A reading re-delivered in a later file (same device_id, seq) stays the one first landed."""
    lake = Lake(spark, world_copy.lake_dir)
    first = _redeliver_first_reading(world_copy, lake, "2099-01-01")
    before = lake.read("silver.telemetry").count()
    _run(world_copy, lake)
    assert _increment(lake, "silver_telemetry").mode == "incremental"
    kept = lake.read("silver.telemetry").where(
        f"device_id = '{first['device_id']}' AND seq = {first['seq']}").collect()
    assert [r["reading_ts"] for r in kept] == [first["reading_ts"]]
    assert lake.read("silver.telemetry").count() == before


def test_a_change_no_job_recorded_rebuilds_what_reads_the_table(world_copy: Config, spark, make_config) -> None:
    """A hand-made change to silver, then a run in which the silver job writes nothing: the job
    claims no version, so gold cannot take the change for one of known dates and rebuilds."""
    lake = Lake(spark, world_copy.lake_dir)
    gold_before = _table(lake, "gold.cold_chain_daily")
    removed = sorted(gold_before["reading_date"].unique())[3]
    lake.delete_where("silver.telemetry", f"reading_date = DATE'{removed}'")  # by hand: no increment
    # a re-delivered reading: bronze grows, the silver job runs and finds nothing new to write
    _redeliver_first_reading(world_copy, lake, "2099-01-02")
    written = lake.version("silver.telemetry")
    _run(world_copy, lake)
    assert lake.version("silver.telemetry") == written
    assert _increment(lake, "silver_telemetry").output_version == -1  # it wrote nothing
    assert _increment(lake, "gold_cold_chain_daily").mode == "full"
    gold_after = _table(lake, "gold.cold_chain_daily")
    assert removed in set(gold_before["reading_date"]) - set(gold_after["reading_date"])
    _run(world_copy, lake, full=True, jobs=("gold_cold_chain_daily",))
    pd.testing.assert_frame_equal(gold_after, _table(lake, "gold.cold_chain_daily"))


def test_a_crash_before_the_increment_is_recorded_is_repaired_by_the_rerun(
    world_copy: Config, spark, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(spark, world_copy.lake_dir)
    _extend(world_copy, WORLD_DAYS + 1)
    original = incremental.Increments.record

    def crash(self, job, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if job == "silver_telemetry":
            raise RuntimeError("killed between the data commit and its increment")
        return original(self, job, *args, **kwargs)

    monkeypatch.setattr(incremental.Increments, "record", crash)
    version = lake.version("silver.telemetry")
    summary = run_jobs(world_copy, lake, select_jobs(list(JOBS)))
    assert {r.job: r.status for r in summary.reports}["silver_telemetry"] == "failed"
    assert lake.version("silver.telemetry") == version + 1  # the data was committed
    monkeypatch.setattr(incremental.Increments, "record", original)
    _run(world_copy, lake)
    assert _increment(lake, "silver_telemetry").mode == "incremental"
    # the table was written after the last mark: the rerun upserts, which finds every key there
    # (and may commit nothing); an append would double the rows
    reran = [c for c in DeltaTable(str(lake.path("silver.telemetry"))).history() if c["version"] > version + 1]
    assert all(str((c.get("operationParameters") or {}).get("mode", "")).lower() != "append" for c in reran), reran
    _assert_equal_to_full_rebuild(world_copy, lake, make_config, tmp_path)


def test_backfill_recomputes_exactly_the_dates_given(world_copy: Config, spark, make_config) -> None:
    lake = Lake(spark, world_copy.lake_dir)
    before = _table(lake, "gold.cold_chain_daily")
    days = sorted(before["reading_date"].unique())
    start, end = days[10], days[12]
    # a lower cold-chain limit: more minutes above it, on the backfilled dates only
    stricter = make_config(world_copy.data_dir, **{"pipeline.cold_chain_limit_c": 2.0})
    jobs = select_backfill_jobs(["gold_cold_chain_daily"])
    summary = backfill(stricter, lake, jobs, start, end)
    assert not summary.failed and [r.status for r in summary.reports] == ["backfilled"]
    after = _table(lake, "gold.cold_chain_daily")
    inside = after["reading_date"].between(start, end)
    outside_before = before[~before["reading_date"].between(start, end)].reset_index(drop=True)
    pd.testing.assert_frame_equal(after[~inside].reset_index(drop=True), outside_before)

    # the backfilled dates equal a full build with the stricter limit
    rebuilt = make_config(world_copy.data_dir, **{"pipeline.cold_chain_limit_c": 2.0})
    _run(rebuilt, lake, full=True, jobs=("gold_cold_chain_daily",))
    full = _table(lake, "gold.cold_chain_daily")
    expected = full[full["reading_date"].between(start, end)].reset_index(drop=True)
    pd.testing.assert_frame_equal(after[inside].reset_index(drop=True), expected)
    assert (expected["minutes_above_limit"].sum()
            > before.loc[before["reading_date"].between(start, end), "minutes_above_limit"].sum())

    # run twice: the same rows
    backfill(rebuilt, lake, jobs, start, end)
    backfill(rebuilt, lake, jobs, start, end)
    pd.testing.assert_frame_equal(_table(lake, "gold.cold_chain_daily"), full)


def test_backfill_refuses_what_it_cannot_do(built_world: Config, spark) -> None:
    with pytest.raises(NotDateKeyed, match="gold_customer_features has no date column"):
        select_backfill_jobs(["gold_customer_features"])
    with pytest.raises(ValueError, match="before"):
        backfill(built_world, Lake(spark, built_world.lake_dir), [], dt.date(2026, 2, 1), dt.date(2026, 1, 1))
