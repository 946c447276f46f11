"""spark-submit entry point: the silver_fx_rates job.

Usage: ./spark-submit.sh silver_fx_rates [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["silver_fx_rates"]))
