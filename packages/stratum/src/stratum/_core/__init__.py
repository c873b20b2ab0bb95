"""The @infer call: spec, decorators, the one module that decides how a call runs, the loop.

Private: programs use these through ``stratum``. Layering: docs/architecture.md."""
