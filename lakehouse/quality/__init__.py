"""Data quality: row-level reject rules for silver (`lakehouse.quality.rules`)."""

from lakehouse.quality.rules import REJECT_COLUMNS, Built, Rule, empty_rejects, split_rejects

__all__ = ["REJECT_COLUMNS", "Built", "Rule", "empty_rejects", "split_rejects"]
