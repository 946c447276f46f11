"""spark-submit entry point: the silver_products job.

Usage: ./spark-submit.sh silver_products [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["silver_products"]))
