"""spark-submit entry point: the silver_sales_targets job.

Usage: ./spark-submit.sh silver_sales_targets [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["silver_sales_targets"]))
