"""``python -m stratum``: the ``stratum`` command (see ``stratum._cli``)."""

import sys

from ._cli import main

sys.exit(main())
