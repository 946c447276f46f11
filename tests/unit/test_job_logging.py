"""What the spark-submit entry points log: the jobs' own lines, and the libraries' only with -v."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Great Expectations logs one INFO line per public function it cannot register, at import.
IMPORT_THEN_LOG = """
import logging, sys
from lakehouse.entrypoint import configure_logging
configure_logging(verbose=sys.argv[1] == "-v")
import great_expectations
logging.getLogger("lakehouse.job").info("silver_orders ok")
"""


def _stderr(*flags: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_THEN_LOG, *flags, "-"], capture_output=True, text=True, timeout=300, check=True
    )
    return done.stderr.splitlines()


@pytest.mark.parametrize(("flags", "library_lines"), [((), False), (("-v",), True)])
def test_library_info_lines_only_with_verbose(flags: tuple[str, ...], library_lines: bool) -> None:
    lines = _stderr(*flags)
    assert any(line.endswith("INFO lakehouse.job: silver_orders ok") for line in lines), lines
    registering = [line for line in lines if "great_expectations" in line and "Skipping registering function" in line]
    assert bool(registering) == library_lines, lines[:5]
