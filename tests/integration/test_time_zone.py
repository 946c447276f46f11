"""One clock: the same sources built on a machine in UTC and on one in Asia/Kolkata (UTC+05:30)
give the same tables, and every run-time stamp is the instant the run happened."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from lakehouse.generate import generate_world

pytestmark = pytest.mark.integration
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
ZONES = ("UTC", "Asia/Kolkata")
# Columns that say when the run happened: equal across runs only as "within the run's span".
RUN_STAMPS = {"_ingested_at", "rejected_at", "checked_at", "started_at", "job_started_at", "recorded_at",
              "ingested_at", "scored_at", "watermark"}  # ops.increments.watermark: the newest _ingested_at seen
# Columns that differ between any two runs (ids and durations made at run time).
# silver.rejects.batch_id is the run's id; ops.ingested_files.modified_ns the landing file's mtime
PER_RUN = {"run_id", "duration_s", "batch_id", "modified_ns"}


def _run(engine: str, data_dir: Path, zone: str, run_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    proc = subprocess.run(
        [LAKEHOUSE, "--env", "test", "--engine", engine, "--data-dir", str(data_dir), "run"],
        env={**os.environ, "TZ": zone, "LAKEHOUSE_PIPELINE__RUN_DATE": run_date.isoformat()},
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return start, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)


def _tables(lake: Path) -> dict[str, pd.DataFrame]:
    found = {}
    for log in sorted(lake.glob("*/*/_delta_log")):
        name = f"{log.parent.parent.name}.{log.parent.name}"
        found[name] = DeltaTable(str(log.parent)).to_pandas()
    return found


def _stamps(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c in RUN_STAMPS and pd.api.types.is_datetime64_any_dtype(frame[c])]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.drop(columns=[*_stamps(frame), *(c for c in frame.columns if c in PER_RUN)])
    if "row_json" in out.columns:  # a rejected row as JSON holds its bronze ingestion stamp
        out["row_json"] = out["row_json"].map(
            lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k not in RUN_STAMPS}, sort_keys=True)
        )
    out = out.astype(str)
    return out.sort_values(list(out.columns)).reset_index(drop=True)


def test_a_build_in_another_time_zone_gives_the_same_tables_and_instants(engine: str, tmp_path: Path,
                                                                          make_config) -> None:
    config = make_config(tmp_path / "sources-only")
    world = generate_world(config.sources_dir, config.app_db_url, scale=0.01, seed=3, days=4,
                   start_date=config.generator.start_date, progress=False)
    lakes, spans = {}, {}
    for zone in ZONES:
        data_dir = tmp_path / zone.replace("/", "-")
        shutil.copytree(config.sources_dir, data_dir / "sources")
        spans[zone] = _run(engine, data_dir, zone, world.last_day)  # freshness as of the world's end
        lakes[zone] = _tables(data_dir / "lake")

    utc, kolkata = (lakes[z] for z in ZONES)
    assert sorted(utc) == sorted(kolkata)
    assert {"silver.rejects", "gold.daily_sales", "ops.job_runs"} <= set(utc)
    for name in utc:
        pd.testing.assert_frame_equal(_comparable(utc[name]), _comparable(kolkata[name]), obj=name)
    for zone in ZONES:
        start, end = spans[zone]
        for name, frame in lakes[zone].items():
            for column in _stamps(frame):
                stamps = pd.to_datetime(frame[column].dropna(), utc=True)
                outside = stamps[(stamps < start) | (stamps > end)]
                assert outside.empty, f"{zone}: {name}.{column} {outside.iloc[0]} outside the run {start}..{end}"
