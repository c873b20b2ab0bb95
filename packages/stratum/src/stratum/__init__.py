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

This module is the whole public face: every name a program uses is in
``__all__``, and the public subpackages are ``stratum.cache``,
``stratum.clients``, ``stratum.exceptions``, ``stratum.exporters``,
``stratum.hitl``, ``stratum.testing`` and ``stratum.trace``. Everything whose
name starts with an underscore is private. Importing stratum does not import
LiteLLM or asyncio; composition, human review, export and the cache load on
first use.
"""

import typing as _typing

from . import clients, exceptions, trace
from ._core.budget import Budget
from ._core.calls import Probabilistic
from ._core.compiler import ContextObject, compile_prompt
from ._core.config import Config, configure, get_config, reset_defaults
from ._core.contracts import contract, contract_hash, contract_schema, opaque
from ._core.decorators import compute, flow, infer
from ._core.executor import run
from ._core.tracing import shutdown
from ._observability.records import TraceRecord
from ._version import __version__ as __version__
from .exceptions import (
    BudgetExceeded,
    ConsensusFailure,
    ContractFailure,
    ConvergenceFailure,
    HITLDeliveryError,
    HITLTimeoutError,
    InvalidDecision,
    MalformedResponse,
    ParallelFailure,
    ParallelValidationFailed,
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    ProviderError,
    ReviewNotPending,
    StabilityAssertionError,
    StratumCompileError,
    StratumConfigError,
    StratumError,
    StratumRuntimeError,
    StratumUsageError,
    StratumWarning,
)

if _typing.TYPE_CHECKING:
    from . import cache, exporters, hitl, testing
    from ._composition.debate import debate
    from ._composition.parallel import parallel
    from ._composition.race import race
    from ._composition.refine import refine
    from ._core.branches import Failure, Success
    from ._core.caching import cache_key
    from .hitl import HumanDecision, HumanReviewContext, await_human

# Loaded on first use, so that a program that only declares and calls @infer
# functions pays for none of them: name -> the module that defines it (a
# value naming the attribute itself, like ".cache", is that subpackage).
_LAZY = {
    "Failure": "._core.branches",
    "HumanDecision": ".hitl",
    "HumanReviewContext": ".hitl",
    "Success": "._core.branches",
    "await_human": ".hitl",
    "cache": ".cache",
    "cache_key": "._core.caching",
    "debate": "._composition.debate",
    "exporters": ".exporters",
    "hitl": ".hitl",
    "parallel": "._composition.parallel",
    "race": "._composition.race",
    "refine": "._composition.refine",
    "testing": ".testing",
}


def __getattr__(name: str) -> object:
    path = _LAZY.get(name)
    if path is None:
        raise AttributeError(f"module 'stratum' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(path, __name__)
    value = module if path == f".{name}" else getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    # The exports, loaded or not, and the module's dunders (__file__, __version__...); never the private rest.
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


__all__ = [
    "Budget",
    "BudgetExceeded",
    "Config",
    "ConsensusFailure",
    "ContextObject",
    "ContractFailure",
    "ConvergenceFailure",
    "Failure",
    "HITLDeliveryError",
    "HITLTimeoutError",
    "HumanDecision",
    "HumanReviewContext",
    "InvalidDecision",
    "MalformedResponse",
    "ParallelFailure",
    "ParallelValidationFailed",
    "ParseFailure",
    "PostconditionFailed",
    "PreconditionFailed",
    "Probabilistic",
    "ProviderError",
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
    "cache",
    "cache_key",
    "clients",
    "compile_prompt",
    "compute",
    "configure",
    "contract",
    "contract_hash",
    "contract_schema",
    "debate",
    "exceptions",
    "exporters",
    "flow",
    "get_config",
    "hitl",
    "infer",
    "opaque",
    "parallel",
    "race",
    "refine",
    "reset_defaults",
    "run",
    "shutdown",
    "testing",
    "trace",
]
