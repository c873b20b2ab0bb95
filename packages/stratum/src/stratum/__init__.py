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
``stratum.checks``, ``stratum.clients``, ``stratum.durable``,
``stratum.exceptions``, ``stratum.exporters``, ``stratum.hitl``,
``stratum.reviews``, ``stratum.testing``, ``stratum.trace`` and
``stratum.types`` (the value types, where code written for the original
stratum-py imports them). Everything whose name starts with an underscore is
private. Importing stratum does not import LiteLLM, DBOS or asyncio;
composition, human review, durable flows, export and the cache load on first
use. ``stratum.warmup()`` does the client's one-time start-up work ahead of
the first call.
"""

import typing as _typing

from . import clients, exceptions, trace
from ._core.budget import Budget
from ._core.calls import Probabilistic
from ._core.compiler import ContextObject, RetryRecord, compile_prompt
from ._core.config import Config, configure, get_config, reset_defaults, warmup
from ._core.contracts import contract, contract_hash, contract_schema, opaque
from ._core.decorators import compute, flow, infer
from ._core.executor import run
from ._core.tracing import shutdown
from ._faces import lazy_exports as _lazy_exports
from ._observability.records import TraceRecord
from ._version import __version__ as __version__
from .exceptions import (
    BudgetExceeded,
    CheckpointError,
    ConsensusFailure,
    ContractFailure,
    ConvergenceFailure,
    FlowCancelled,
    FlowConflict,
    FlowFailed,
    FlowNotFound,
    HITLDeliveryError,
    HITLTimeoutError,
    InvalidDecision,
    InvalidItem,
    JobConflict,
    JobNotFound,
    MalformedResponse,
    ParallelFailure,
    ParallelValidationFailed,
    ParseFailure,
    PostconditionFailed,
    PreconditionFailed,
    ProviderError,
    ReplayMismatch,
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
    from . import cache, checks, durable, exporters, hitl, reviews, testing, types
    from ._composition.debate import debate
    from ._composition.parallel import parallel
    from ._composition.race import race
    from ._composition.refine import refine
    from ._core.branches import Failure, Success
    from ._core.caching import cache_key
    from .hitl import (
        ConsoleReviewSink,
        HumanDecision,
        HumanReviewContext,
        PendingReview,
        QueueReviewSink,
        ReviewSink,
        WebhookReviewSink,
        await_human,
    )

# Loaded on first use, so that a program that only declares and calls @infer
# functions pays for none of them: name -> the module that defines it (a
# value naming the attribute itself, like ".cache", is that subpackage).
_LAZY = {
    "ConsoleReviewSink": ".hitl",
    "Failure": "._core.branches",
    "HumanDecision": ".hitl",
    "HumanReviewContext": ".hitl",
    "PendingReview": ".hitl",
    "QueueReviewSink": ".hitl",
    "ReviewSink": ".hitl",
    "Success": "._core.branches",
    "WebhookReviewSink": ".hitl",
    "await_human": ".hitl",
    "cache": ".cache",
    "cache_key": "._core.caching",
    "checks": ".checks",
    "debate": "._composition.debate",
    "durable": ".durable",
    "exporters": ".exporters",
    "hitl": ".hitl",
    "inbox": ".inbox",
    "parallel": "._composition.parallel",
    "race": "._composition.race",
    "refine": "._composition.refine",
    "reviews": ".reviews",
    "testing": ".testing",
    "types": ".types",
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)

__all__ = [
    "Budget",
    "BudgetExceeded",
    "CheckpointError",
    "Config",
    "ConsensusFailure",
    "ConsoleReviewSink",
    "ContextObject",
    "ContractFailure",
    "ConvergenceFailure",
    "Failure",
    "FlowCancelled",
    "FlowConflict",
    "FlowFailed",
    "FlowNotFound",
    "HITLDeliveryError",
    "HITLTimeoutError",
    "HumanDecision",
    "HumanReviewContext",
    "InvalidDecision",
    "InvalidItem",
    "JobConflict",
    "JobNotFound",
    "MalformedResponse",
    "ParallelFailure",
    "ParallelValidationFailed",
    "ParseFailure",
    "PendingReview",
    "PostconditionFailed",
    "PreconditionFailed",
    "Probabilistic",
    "ProviderError",
    "QueueReviewSink",
    "ReplayMismatch",
    "RetryRecord",
    "ReviewNotPending",
    "ReviewSink",
    "StabilityAssertionError",
    "StratumCompileError",
    "StratumConfigError",
    "StratumError",
    "StratumRuntimeError",
    "StratumUsageError",
    "StratumWarning",
    "Success",
    "TraceRecord",
    "WebhookReviewSink",
    "await_human",
    "cache",
    "cache_key",
    "checks",
    "clients",
    "compile_prompt",
    "compute",
    "configure",
    "contract",
    "contract_hash",
    "contract_schema",
    "debate",
    "durable",
    "exceptions",
    "exporters",
    "flow",
    "get_config",
    "hitl",
    "inbox",
    "infer",
    "opaque",
    "parallel",
    "race",
    "refine",
    "reset_defaults",
    "reviews",
    "run",
    "shutdown",
    "testing",
    "trace",
    "types",
    "warmup",
]
