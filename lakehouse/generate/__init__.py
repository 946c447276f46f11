"""Deterministic generator of every source (app database, clickstream, telemetry, FX, targets)
and the bundled FX rates provider (`lakehouse.generate.fx_server`)."""

from lakehouse.generate.world import GenerationSummary, GeneratorMismatch, generate_world

__all__ = ["GenerationSummary", "GeneratorMismatch", "generate_world"]
