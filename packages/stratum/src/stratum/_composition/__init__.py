"""Primitives that combine calls: parallel, race, debate, @refine.

Private: programs use these through ``stratum``. Layering: docs/architecture.md."""
