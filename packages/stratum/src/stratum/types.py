"""The public value types, where code written for the original stratum-py imports them.

::

    from stratum.types import HumanDecision, HumanReviewContext, Probabilistic, opaque

Every name here is also exported by ``stratum`` itself (and the review types by ``stratum.hitl``);
the objects are the same.
"""

from ._core.branches import Failure, Success
from ._core.budget import Budget
from ._core.calls import Probabilistic
from ._core.contracts import opaque
from .hitl import HumanDecision, HumanReviewContext

__all__ = [
    "Budget",
    "Failure",
    "HumanDecision",
    "HumanReviewContext",
    "Probabilistic",
    "Success",
    "opaque",
]
