"""``python -m stratum``: the ``stratum`` command."""

from ._cli import run

if __name__ == "__main__":  # imported (by a doc or package walker), it runs nothing
    run()
