"""Reverse ETL: customer segments synced to a CRM, only what changed, with a ledger and dead letters."""
