"""Which of the pipeline's sources are there, asked before a run starts.

A run pointed at an empty or wrong data directory would otherwise take the lake's lock, start
every ingestion job, and have each fail its own way (SQLite cannot open a file it was not given,
the bundled FX API answers 503 for a rates file that is not there). `find_sources` looks first,
without writing anything: the app database (a SQLite file, or whatever database
`sources.app_db_url` names, taken as there), the FX rates (`sources.fx.url`, or the bundled
provider's file) and the landing folders (`sources.landing_uri`, on a local disk or object
storage, through `lakehouse.files`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from lakehouse.config import Config
from lakehouse.files import Location

# The landing folder each file ingestion job reads.
LANDING_FOLDERS = {"bronze_clickstream": "clickstream", "bronze_telemetry": "telemetry", "bronze_targets": "targets"}


@dataclass(frozen=True)
class Source:
    """One ingestion job's source: where it is looked for and whether anything is there."""

    job: str
    where: str
    present: bool


def fx_rates_file(config: Config) -> Path:
    """The rates file the bundled FX provider serves when `sources.fx.url` is not set."""
    return config.sources_dir / "fx" / "rates.csv"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for another database, or SQLite in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def find_source(config: Config, job: str) -> Source:
    """The source of one ingestion job. Raises `StorageError` when it is on object storage that
    cannot be reached."""
    if job == "bronze_app_db":
        database = sqlite_file(config.app_db_url)
        if database is None:  # a database server: reached when the job runs
            return Source(job, config.app_db_url, True)
        return Source(job, str(database), Location(database).is_file())
    if job == "bronze_fx":
        if config.sources.fx.url:
            return Source(job, config.sources.fx.url, True)
        rates = fx_rates_file(config)
        return Source(job, str(rates), Location(rates).is_file())
    where = config.landing / LANDING_FOLDERS[job]
    return Source(job, str(where), bool(where.names()))


SOURCE_JOBS = ("bronze_app_db", "bronze_fx", *LANDING_FOLDERS)  # local checks first: the landing may be remote


def missing_all(config: Config, jobs: list[str]) -> bool:
    """Whether none of the sources of these ingestion jobs is there (False when `jobs` has none).
    Stops looking at the first one found, so object storage is asked only when nothing local is
    there. Raises `StorageError` when these jobs read a landing zone on object storage that cannot
    be reached (a missing bucket, refused credentials): the run stops before it writes anything,
    rather than ingesting nothing from there and ending well."""
    ingest = [job for job in SOURCE_JOBS if job in jobs]
    if any(job in LANDING_FOLDERS for job in ingest):
        config.landing.check()
    return bool(ingest) and not any(find_source(config, job).present for job in ingest)


def misplaced(config: Config) -> str | None:
    """What the data directory looks like when it is one level too deep (a sources or a lake
    folder given as `--data-dir`), or None."""
    data_dir = Location(config.data_dir)
    names: set[str] = set(data_dir.names())
    if "app.db" in names or names & set(LANDING_FOLDERS.values()):
        return f"{config.data_dir} looks like a sources folder: --data-dir takes the directory that holds sources/"
    if names & {"bronze", "silver", "gold"}:
        return f"{config.data_dir} looks like a lake folder: --data-dir takes the directory that holds lake/"
    return None


def looked_in(config: Config) -> str:
    """Where sources are looked for, for a message: the sources folder, and the landing when it is
    elsewhere."""
    places = [str(config.sources_dir)]
    if config.landing != Location(config.sources_dir):
        places.append(str(config.landing))
    return " or ".join(places)
