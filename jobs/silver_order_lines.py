"""spark-submit entry point: the silver_order_lines job.

Usage: ./spark-submit.sh silver_order_lines [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["silver_order_lines"]))
