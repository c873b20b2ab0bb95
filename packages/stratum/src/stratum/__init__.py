"""Stratum: LLM calls that behave like the rest of your code.

``@infer`` (an LLM call) and ``@compute`` (a normal function) compose
identically inside ``@flow``; ``@contract`` types flow between steps; the
runtime owns targeted retry, hard budgets and trace records::

    import stratum
    from stratum import Budget, contract, infer

    @contract
    class Sentiment(BaseModel):
        label: Literal["positive", "negative", "neutral"]
        confidence: float

    @infer(intent="Classify the tone", ensure=lambda r: r.confidence > 0.7)
    def classify(text: str) -> Sentiment: ...

    result = stratum.run(classify(text="Great product"))

Importing stratum does not import LiteLLM; that happens on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import trace
from .budget import Budget
from .config import configure, reset_defaults
from .contracts import contract, opaque
from .decorators import compute, flow, infer
from .exceptions import (
    BudgetExceeded,
    ConsensusFailure,
    ContractFailure,
    ConvergenceFailure,
    HITLDeliveryError,
    HITLTimeoutError,
    InvalidDecision,
    ParallelFailure,
    ParallelValidationFailed,
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    ReviewNotPending,
    StabilityAssertionError,
    StratumCompileError,
    StratumConfigError,
    StratumError,
    StratumRuntimeError,
    StratumUsageError,
    StratumWarning,
)
from .executor import run
from .trace import TraceRecord

if TYPE_CHECKING:
    from . import exporters
    from .concurrency import Failure, Success, debate, parallel, race
    from .exporters import shutdown
    from .hitl import HumanDecision, HumanReviewContext, await_human
    from .probabilistic import Probabilistic
    from .refinement import refine

# Composition, human review and export load on first use, so that a program
# that only declares and calls @infer functions does not pay for them.
_LAZY = {
    "Failure": ".concurrency",
    "Success": ".concurrency",
    "debate": ".concurrency",
    "parallel": ".concurrency",
    "race": ".concurrency",
    "Probabilistic": ".probabilistic",
    "refine": ".refinement",
    "HumanDecision": ".hitl",
    "HumanReviewContext": ".hitl",
    "await_human": ".hitl",
    "shutdown": ".exporters",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "exporters":
        return importlib.import_module(".exporters", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stratum' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

__version__ = "0.1.0"

__all__ = [
    "Budget",
    "BudgetExceeded",
    "ConsensusFailure",
    "ContractFailure",
    "ConvergenceFailure",
    "Failure",
    "HITLDeliveryError",
    "HITLTimeoutError",
    "HumanDecision",
    "HumanReviewContext",
    "InvalidDecision",
    "ParallelFailure",
    "ParallelValidationFailed",
    "ParseFailure",
    "PostconditionFailed",
    "PreconditionFailed",
    "Probabilistic",
    "ReviewNotPending",
    "StabilityAssertionError",
    "StratumCompileError",
    "StratumConfigError",
    "StratumError",
    "StratumRuntimeError",
    "StratumUsageError",
    "StratumWarning",
    "Success",
    "TraceRecord",
    "await_human",
    "compute",
    "configure",
    "contract",
    "debate",
    "exporters",
    "flow",
    "infer",
    "opaque",
    "parallel",
    "race",
    "refine",
    "reset_defaults",
    "run",
    "shutdown",
    "trace",
]
