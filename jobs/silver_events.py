"""spark-submit entry point: the silver_events job.

Usage: ./spark-submit.sh silver_events [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["silver_events"]))
