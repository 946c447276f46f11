"""Generate or extend the whole world of sources under one directory.

The same (seed, scale, start date, days) always gives byte-identical files and identical database
rows; asking for more days than a world has adds only the missing days, with the very result one
longer run would have given. The world's parameters are recorded in `_generator.json` beside the
sources and in the app database's `_generator` table; extending with other parameters is an error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from lakehouse.files import Location
from lakehouse.generate import fx, store, telemetry
from lakehouse.generate.day import simulate_day
from lakehouse.generate.files import write_atomic
from lakehouse.generate.model import Clock, Day, Size, device_ids
from lakehouse.generate.targets import write_targets

log = logging.getLogger(__name__)

MANIFEST = "_generator.json"
PARAMETERS = ("seed", "scale", "start_date")
COUNT_ORDER = ("customers", "customer_updates", "erasures", "products", "price_changes", "orders", "order_items",
               "status_changes", "events", "telemetry", "fx_rates", "targets")


@dataclass(frozen=True)
class GenerationSummary:
    """What a call produced: `counts` are rows/lines written by this call, per source."""

    days_total: int
    days_added: int
    first_day: dt.date
    last_day: dt.date
    counts: dict[str, int]


class GeneratorMismatch(ValueError):
    """The sources were generated with other parameters than the ones given to extend them."""


def _parameters(seed: int, scale: float, start_date: dt.date) -> dict[str, str]:
    return {"seed": str(seed), "scale": repr(float(scale)), "start_date": start_date.isoformat()}


def _check(recorded: dict[str, str], wanted: dict[str, str], where: str) -> None:
    for key in PARAMETERS:
        if key in recorded and recorded[key] != wanted[key]:
            raise GeneratorMismatch(
                f"{where} was generated with {key}={recorded[key]}, not {key}={wanted[key]}; "
                f"extend it with {key}={recorded[key]} or generate into another data directory"
            )


def _read_manifest(sources_dir: Path) -> dict[str, str]:
    path = sources_dir / MANIFEST
    if not path.exists():
        return {}
    loaded = json.loads(path.read_text())
    return {"seed": str(loaded["seed"]), "scale": repr(float(loaded["scale"])), "start_date": loaded["start_date"],
            "days": str(loaded["days"])}


def _write_manifest(sources_dir: Path, params: dict[str, str], days: int) -> None:
    body = {"seed": int(params["seed"]), "scale": float(params["scale"]), "start_date": params["start_date"],
            "days": days}
    write_atomic(sources_dir / MANIFEST, (json.dumps(body, indent=2) + "\n").encode())


def _days_done(engine: Engine, sources_dir: Path, params: dict[str, str]) -> int:
    """Days the world already has (per the database), after checking it is the same world."""
    manifest = _read_manifest(sources_dir)
    _check(manifest, params, str(sources_dir))
    database = engine.url.render_as_string(hide_password=True)
    recorded = store.read_meta(engine)
    _check(recorded, params, f"the app database {database}")
    if not recorded and store.has_foreign_rows(engine):
        raise GeneratorMismatch(f"the app database {database} already has rows the generator did not write; "
                                "point the generator at an empty database")
    done = int(recorded.get("days", 0))
    if int(manifest.get("days", 0)) > done:
        log.warning("%s records %s days but the app database %s only %d; regenerating from there",
                    sources_dir / MANIFEST, manifest["days"], database, done)
    return done


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Progress]:
    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TextColumn("days"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not enabled, transient=True) as bar:
        yield bar


def _validate(scale: float, seed: int, days: int) -> None:
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if seed < 0:
        raise ValueError(f"seed must be zero or positive, got {seed}")
    if days < 0:
        raise ValueError(f"days must be zero or positive, got {days}")


def generate_world(sources_dir: Path, app_db_url: str, *, scale: float, seed: int, days: int,
                   start_date: dt.date, progress: bool = True,
                   landing: Location | str | None = None) -> GenerationSummary:
    """Generate days 1..`days` of the world, or only those past what `sources_dir` already holds.

    The landing files (clickstream, telemetry, targets) go to `landing` (default `sources_dir`);
    the manifest and the FX provider's rates stay in `sources_dir`, beside a SQLite app database."""
    _validate(scale, seed, days)
    sources_dir = Path(sources_dir)
    where = Location.of(landing) if landing is not None else Location(sources_dir)
    sources_dir.mkdir(parents=True, exist_ok=True)
    params, clock, size = _parameters(seed, scale, start_date), Clock(start_date), Size(scale)
    engine = create_engine(app_db_url)
    try:
        done = _days_done(engine, sources_dir, params)
        if days <= done:
            log.info("the world in %s already has %d days; nothing to add", sources_dir, done)
            return GenerationSummary(done, 0, start_date, clock.date(max(done, 1) - 1), {})
        store.create_schema(engine)
        counts = _generate_days(engine, sources_dir, where, params, clock, size, done, days, progress)
    finally:
        engine.dispose()
    ordered = {key: counts[key] for key in COUNT_ORDER} | {k: counts[k] for k in sorted(set(counts) - set(COUNT_ORDER))}
    return GenerationSummary(days, days - done, start_date, clock.date(days - 1), ordered)


def _generate_days(engine: Engine, sources_dir: Path, landing: Location, params: dict[str, str], clock: Clock,
                   size: Size, done: int, days: int, progress: bool) -> Counter[str]:
    seed = int(params["seed"])
    rates = fx.daily_rates(seed, days)
    counts: Counter[str] = Counter()
    counts["fx_rates"] = (days - done) * rates.shape[1]
    fx.write_rates_csv(sources_dir / "fx" / "rates.csv", clock, rates)
    devices = tuple(device_ids(size.devices))
    late = telemetry.day_lines(seed, done - 1, clock, devices)[1] if done else []
    with _progress(progress, days - done) as bar:
        task = bar.add_task("days", total=days - done)
        for index in range(done, days):
            day = Day(seed, index, clock, size, fx.rates_of_day(rates, index), devices)
            day_counts, late = simulate_day(engine, day, landing, late, params)
            counts.update(day_counts)
            _write_manifest(sources_dir, params, index + 1)
            bar.advance(task)
    counts["targets"] = write_targets(landing / "targets" / "sales_targets.csv", seed, size, clock, days)
    log.info("generated days %s..%s into %s", clock.date(done), clock.date(days - 1), landing)
    return counts
