"""Serving: the REST API and dashboard (`create_app`), and the Spark Connect SQL endpoint."""
