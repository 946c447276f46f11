"""spark-submit entry point: the bronze_telemetry job.

Usage: ./spark-submit.sh bronze_telemetry [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["bronze_telemetry"]))
