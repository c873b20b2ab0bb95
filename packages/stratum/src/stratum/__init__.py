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

from . import exporters, trace
from .budget import Budget
from .config import configure, reset_defaults
from .contracts import contract, opaque
from .decorators import compute, flow, infer
from .exceptions import (
    BudgetExceeded,
    ConsensusFailure,
    ContractFailure,
    ConvergenceFailure,
    HITLTimeoutError,
    ParallelValidationFailed,
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    StabilityAssertionError,
    StratumCompileError,
    StratumConfigError,
    StratumError,
    StratumRuntimeError,
    StratumUsageError,
    StratumWarning,
)
from .executor import run
from .exporters import shutdown
from .trace import TraceRecord

__version__ = "0.1.0"

__all__ = [
    "Budget",
    "BudgetExceeded",
    "ConsensusFailure",
    "ContractFailure",
    "ConvergenceFailure",
    "HITLTimeoutError",
    "ParallelValidationFailed",
    "ParseFailure",
    "PostconditionFailed",
    "PreconditionFailed",
    "StabilityAssertionError",
    "StratumCompileError",
    "StratumConfigError",
    "StratumError",
    "StratumRuntimeError",
    "StratumUsageError",
    "StratumWarning",
    "TraceRecord",
    "compute",
    "configure",
    "contract",
    "exporters",
    "flow",
    "infer",
    "opaque",
    "reset_defaults",
    "run",
    "shutdown",
    "trace",
]
