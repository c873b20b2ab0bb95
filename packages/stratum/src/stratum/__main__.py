"""``python -m stratum``: the ``stratum`` command (see ``stratum._cli``)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
