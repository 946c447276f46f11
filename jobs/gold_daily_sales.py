"""spark-submit entry point: the gold_daily_sales job.

Usage: ./spark-submit.sh gold_daily_sales [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["gold_daily_sales"]))
