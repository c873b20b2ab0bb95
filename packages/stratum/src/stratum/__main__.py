"""``python -m stratum``: the ``stratum`` command."""

from ._cli import run

run()
