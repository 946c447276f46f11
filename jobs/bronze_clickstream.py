"""spark-submit entry point: the bronze_clickstream job.

Usage: ./spark-submit.sh bronze_clickstream [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["bronze_clickstream"]))
