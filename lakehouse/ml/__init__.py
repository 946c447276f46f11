"""Churn model: point-in-time features and labels, training with a champion gate, scoring, monitoring."""
