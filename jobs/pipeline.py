"""spark-submit entry point: every job, in dependency order.

Usage: ./spark-submit.sh pipeline [--data-dir D] [--env E]
"""

import sys

from lakehouse.entrypoint import main

if __name__ == "__main__":
    sys.exit(main([]))
