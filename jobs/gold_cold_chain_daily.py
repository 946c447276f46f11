"""spark-submit entry point: the gold_cold_chain_daily job.

Usage: ./spark-submit.sh gold_cold_chain_daily [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["gold_cold_chain_daily"]))
