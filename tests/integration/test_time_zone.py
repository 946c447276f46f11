"""One clock: the same sources built on a machine in UTC and on one in Asia/Kolkata (UTC+05:30)
give the same tables, and every run-time stamp is the instant the run happened.

One build runs in this process, in the pass's own zone (scripts/test.sh runs the embedded pass in
Asia/Kolkata, the Spark pass in the machine's, UTC on CI), on the pass's session; the other in a
`lakehouse run` process of its own in the other zone. On Apache Spark the build on the pass's
warm JVM takes about half as long as one in a new process (a cold driver JVM of its own)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.generate import generate_world

pytestmark = pytest.mark.integration
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
# Columns that say when the run happened: equal across runs only as "within the run's span".
RUN_STAMPS = {"_ingested_at", "rejected_at", "checked_at", "started_at", "job_started_at", "recorded_at",
              "ingested_at", "scored_at", "watermark"}  # ops.increments.watermark: the newest _ingested_at seen
# Columns that differ between any two runs (ids and durations made at run time).
# silver.rejects.batch_id is the run's id; ops.ingested_files.modified_ns the landing file's mtime
PER_RUN = {"run_id", "duration_s", "batch_id", "modified_ns"}


def _zones() -> tuple[str, str]:
    """(this process's zone, the other one): UTC and Asia/Kolkata, whichever this process is not in."""
    here = os.environ.get("TZ") or time.tzname[0]
    offset = dt.datetime.now().astimezone().utcoffset()
    return (here, "Asia/Kolkata") if offset == dt.timedelta(0) else (here, "UTC")


def _run(engine: str, data_dir: Path, zone: str, run_date: dt.date, here: bool) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    args = ["--env", "test", "--engine", engine, "--data-dir", str(data_dir), "run"]
    run_date_env = {"LAKEHOUSE_PIPELINE__RUN_DATE": run_date.isoformat()}
    if here:  # the command as the process in `zone` runs it, on this pass's session
        result = CliRunner().invoke(app, args, env=run_date_env)
        assert result.exit_code == 0, result.output[-3000:]
    else:
        proc = subprocess.run([LAKEHOUSE, *args], env={**os.environ, "TZ": zone, **run_date_env},
                              capture_output=True, text=True, timeout=900)
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
    zones = _zones()
    lakes, spans = {}, {}
    for zone in zones:
        data_dir = tmp_path / zone.replace("/", "-")
        shutil.copytree(config.sources_dir, data_dir / "sources")
        # freshness as of the world's end
        spans[zone] = _run(engine, data_dir, zone, world.last_day, here=zone == zones[0])
        lakes[zone] = _tables(data_dir / "lake")

    one, other = (lakes[z] for z in zones)
    assert sorted(one) == sorted(other)
    assert {"silver.rejects", "gold.daily_sales", "ops.job_runs"} <= set(one)
    for name in one:
        pd.testing.assert_frame_equal(_comparable(one[name]), _comparable(other[name]), obj=name)
    for zone in zones:
        start, end = spans[zone]
        for name, frame in lakes[zone].items():
            for column in _stamps(frame):
                stamps = pd.to_datetime(frame[column].dropna(), utc=True)
                outside = stamps[(stamps < start) | (stamps > end)]
                assert outside.empty, f"{zone}: {name}.{column} {outside.iloc[0]} outside the run {start}..{end}"
