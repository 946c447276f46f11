"""spark-submit entry point: the bronze_app_db job.

Usage: ./spark-submit.sh bronze_app_db [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(["bronze_app_db"]))
