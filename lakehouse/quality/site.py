"""What the Data Docs site is missing, read from the Great Expectations project's files alone.

The project under `<data_dir>/quality/gx` files suites under `expectations/` and validation
results under `uncommitted/validations/`, one JSON file per store key (the key's parts are the
path), and the site has one page per key at the same path. Reading that from the files needs no
Great Expectations import (2.5 s), so a run that validated nothing can tell that the site is
current and leave it as it is.
"""

from __future__ import annotations

from pathlib import Path

# Runs that validated without Great Expectations file their outcomes here (`lakehouse.quality.filing`),
# until a Data Docs build turns them into results under gx/.
PENDING = "pending"
# section of the site -> where its keys are filed, under gx/
FILED = {"validations": ("uncommitted", "validations"), "expectations": ("expectations",)}
# The site shows this many of the latest validation results (about six runs of every table): its
# index reads every result it lists on each build. With all of them listed, after a hundred days
# of daily runs a refresh took 9.6-10.2 s instead of 7.2 s. Older results stay filed, without a
# page if they never had one; `ops.dq_results` keeps every outcome.
INDEX_RESULTS = 100


def site_dir(root: Path) -> Path:
    """The local Data Docs site of the project under `root`."""
    return root / "gx" / "uncommitted" / "data_docs" / "local_site"


def pending(root: Path) -> list[Path]:
    """The runs' outcomes filed without Great Expectations and not yet in the project, oldest first."""
    folder = root / PENDING
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def unrendered(root: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(section, key parts) of each filed result the site shows without a page (the latest
    `INDEX_RESULTS`), and of each suite whose page is missing or older than the suite; a run's
    outcomes still pending (`pending`) as ("pending", (file name,))."""
    site = site_dir(root)
    todo: list[tuple[str, tuple[str, ...]]] = [(PENDING, (p.name,)) for p in pending(root)]
    for section, folders in FILED.items():
        filed = root.joinpath("gx", *folders)
        sources = sorted(filed.rglob("*.json")) if filed.is_dir() else []
        if section == "validations":  # newest first: a result's parts end with run name, run time, batch
            sources = sorted(sources, key=lambda p: p.relative_to(filed).parts[-2], reverse=True)[:INDEX_RESULTS]
        for source in sources:
            *parents, name = source.relative_to(filed).parts
            parts = (*parents, name.removesuffix(".json"))
            page = site.joinpath(section, *parents, f"{parts[-1]}.html")
            stale = section == "expectations" and page.is_file() and source.stat().st_mtime_ns > page.stat().st_mtime_ns
            if stale or not page.is_file():
                todo.append((section, parts))
    return todo
