"""spark-submit entry point: the gold_customer_segments job.

Usage: ./spark-submit.sh gold_customer_segments [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["gold_customer_segments"]))
