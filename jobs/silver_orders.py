"""spark-submit entry point: the silver_orders job.

Usage: ./spark-submit.sh silver_orders [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["silver_orders"]))
