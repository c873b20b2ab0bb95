"""Every error Stratum raises, in one tree.

A caller's mistake (a bad decorator, a missing model) is told apart from a
run-time failure (the model could not satisfy the contract, the budget ran
out), so code can catch the second kind without hiding the first::

    StratumError
    ├── StratumUsageError              the caller's mistake; fix the code
    │   ├── StratumCompileError        bad decorator/contract, found at decoration
    │   ├── StratumConfigError         nothing to call: no model, no client, a usd limit without a price
    │   ├── InvalidDecision            a human decision does not fit its type (also a TypeError)
    │   ├── ReviewNotPending           resolving a review that is unknown or closed (also a LookupError)
    │   ├── FlowNotFound               no durable flow run has this id (also a LookupError)
    │   ├── FlowConflict               a flow id already names a run of another flow or other arguments
    │   ├── CheckpointError            a durable step's outcome cannot be stored (also a TypeError)
    │   ├── JobNotFound                no bulk job has this id (also a LookupError)
    │   ├── JobConflict                a job id already names a job of another function, queue, budget or items
    │   └── InvalidItem                an item a bulk job's function cannot take (also a TypeError)
    └── StratumRuntimeError            a run-time failure; handle or report it
        ├── PreconditionFailed         a `given` predicate was False; no request sent
        ├── ContractFailure            the model never produced an acceptable output
        │   ├── ParseFailure           ... the last attempt did not parse
        │   └── PostconditionFailed    ... the last attempt failed `ensure`
        ├── BudgetExceeded             a hard time or cost limit was reached
        ├── MalformedResponse          the provider's reply held no usable completion
        ├── ProviderError              the provider refused the request or could not be reached
        ├── ConvergenceFailure         @refine ran out of iterations
        ├── ConsensusFailure           quorum/debate did not agree
        ├── ParallelFailure            parallel() could not meet `require` (also an ExceptionGroup)
        ├── ParallelValidationFailed   parallel(validate=...) rejected the results
        ├── HITLTimeoutError           a human review timed out
        ├── HITLDeliveryError          a review could not reach a human (webhook down, stdin closed)
        ├── StabilityAssertionError    sampled outputs disagree too often
        ├── ReplayMismatch             a recovered step no longer matches its checkpoint (the code changed)
        ├── FlowCancelled              the durable flow run was cancelled
        └── FlowFailed                 a durable run failed with an error this process cannot rebuild

    StratumWarning (a UserWarning)     something worth knowing that does not stop the call

Provider errors that are not transient (authentication, bad request) are not
wrapped: they surface as the client library raised them (LiteLLM's, an SDK's).
Stratum's own HTTP client, ``stratum.clients.OpenAICompatible``, raises
``ProviderError``.

Every error carries structured fields; tests and handlers should read those
rather than parse messages.
"""

# This module's namespace is public (``stratum.exceptions``): what it needs
# besides its own classes is imported for type checking only, or under a
# private name.
from __future__ import annotations as _annotations

import dataclasses as _dataclasses
import typing as _typing

if _typing.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Literal

__all__ = [
    "AttemptRecord",
    "BudgetExceeded",
    "CheckpointError",
    "ConsensusFailure",
    "ContractFailure",
    "ConvergenceFailure",
    "FlowCancelled",
    "FlowConflict",
    "FlowFailed",
    "FlowNotFound",
    "HITLDeliveryError",
    "HITLTimeoutError",
    "InvalidDecision",
    "InvalidItem",
    "JobConflict",
    "JobNotFound",
    "MalformedResponse",
    "ParallelFailure",
    "ParallelValidationFailed",
    "ParseFailure",
    "PostconditionFailed",
    "PreconditionFailed",
    "ProviderError",
    "ReplayMismatch",
    "ReviewNotPending",
    "StabilityAssertionError",
    "StratumCompileError",
    "StratumConfigError",
    "StratumError",
    "StratumRuntimeError",
    "StratumUsageError",
    "StratumWarning",
    "Violation",
]


@_dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One reason an attempt was rejected.

    ``kind`` is ``"parse"`` (the output did not match the contract) or
    ``"ensure"`` (a postcondition was False or raised). ``condition`` is the
    postcondition's source text and ``actual`` the values it read, when known.
    """

    kind: Literal["parse", "ensure"]
    message: str
    condition: str | None = None
    field: str | None = None
    actual: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        return self.message


@_dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord:
    """What one failed attempt sent and received, kept for the retry history."""

    attempt: int
    prompt_hash: str
    raw_output: str | None
    violations: tuple[Violation, ...]


class StratumError(Exception):
    """Base of every error raised by Stratum."""


class StratumUsageError(StratumError):
    """The calling code is wrong; retrying will not help."""


class StratumCompileError(StratumUsageError):
    """A decorator, contract or prompt template cannot be compiled.

    Raised at decoration (or at first use, when an annotation names a class
    defined later). ``function`` is the declaration (``classify``,
    ``Agent.step``, a contract's name), ``source`` the offending expression's
    source text when there is one, ``rule`` the check that failed (see
    docs/checks.md), ``suggestion`` a close name that exists, and
    ``filename``/``lineno`` where the mistake is written.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str | None = None,
        function: str | None = None,
        source: str | None = None,
        suggestion: str | None = None,
        filename: str | None = None,
        lineno: int | None = None,
    ) -> None:
        self.rule = rule
        self.function = function
        self.source = source
        self.suggestion = suggestion
        self.filename = filename
        self.lineno = lineno
        super().__init__(message)


class StratumConfigError(StratumUsageError):
    """The runtime is not configured for this call (no model, bad client)."""


class StratumRuntimeError(StratumError):
    """A call ran and failed in a way the caller may want to handle."""


class PreconditionFailed(StratumRuntimeError):
    def __init__(self, function: str, condition: str, inputs: Mapping[str, Any]) -> None:
        self.function = function
        self.condition = condition
        self.inputs = dict(inputs)
        super().__init__(f"{function}: precondition failed: {condition}")


class ContractFailure(StratumRuntimeError):
    """Retries are exhausted and no attempt produced an acceptable output."""

    def __init__(
        self,
        function: str,
        violations: Sequence[Violation],
        history: Sequence[AttemptRecord],
        *,
        raw_output: str | None,
        output: Any = None,
    ) -> None:
        self.function = function
        self.violations = tuple(violations)
        self.history = tuple(history)
        self.raw_output = raw_output
        self.output = output
        self.attempts = len(self.history)
        listed = "; ".join(v.message for v in self.violations)
        super().__init__(f"{function}: failed after {self.attempts} attempt(s): {listed}")


class ParseFailure(ContractFailure):
    """The last attempt's output did not parse against the contract."""


class PostconditionFailed(ContractFailure):
    """The last attempt parsed but failed at least one ``ensure``."""


class BudgetExceeded(StratumRuntimeError):
    """A hard limit was reached. ``axis`` is ``"time"`` (ms) or ``"cost"`` (USD).

    ``limit`` and ``spent`` are in the axis' unit; ``function`` is the call
    that was stopped and ``scope`` the name of the envelope that ran out (the
    call itself or the enclosing flow).
    """

    def __init__(
        self,
        axis: Literal["time", "cost"],
        limit: float,
        spent: float,
        *,
        function: str,
        scope: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.axis = axis
        self.limit = limit
        self.spent = spent
        self.function = function
        self.scope = scope or function
        self.detail = detail
        unit = "ms" if axis == "time" else "USD"
        where = "" if self.scope == function else f" (budget of {self.scope})"
        text = f"{function}: {axis} budget exceeded{where}: limit {limit:g} {unit}, spent {spent:g} {unit}"
        super().__init__(text + (f"; {detail}" if detail else ""))


class MalformedResponse(StratumRuntimeError):
    """The provider answered, but not with a completion Stratum can read.

    ``reason`` says what was wrong (no ``choices``, no message, content that
    is not text). Clients raise it wrapped in a ``TransientError``, so it is
    retried like a 5xx; when the retries run out it reaches the caller, and
    the call's trace record carries it in ``error``.
    """

    def __init__(self, function: str, reason: str, *, model: str | None = None) -> None:
        self.function = function
        self.reason = reason
        self.model = model
        super().__init__(f"{function}: the provider's reply was malformed: {reason}")


class ProviderError(StratumRuntimeError):
    """The provider refused the request, or could not be reached (``stratum.clients.OpenAICompatible``).

    ``status_code`` is the HTTP status of its answer, None when none came
    (connection refused or reset, timed out); ``message`` is the provider's
    own error message when it gave one. Rate limits (429), 408, 409, 5xx and
    connection failures are retried first; this is what reaches the caller
    when the retries run out, or at once for an error that retrying cannot
    fix (401, 400, 404).
    """

    def __init__(
        self, function: str, message: str, *, status_code: int | None = None, model: str | None = None
    ) -> None:
        self.function = function
        self.message = message
        self.status_code = status_code
        self.model = model
        status = "no answer" if status_code is None else f"HTTP {status_code}"
        super().__init__(f"{function}: the provider failed ({status}): {message}")


class ConvergenceFailure(StratumRuntimeError):
    def __init__(self, function: str, iterations: Sequence[Any], feedback: Sequence[Any]) -> None:
        self.function = function
        self.iterations = tuple(iterations)
        self.feedback = tuple(feedback)
        super().__init__(f"{function}: did not converge in {len(self.iterations)} iteration(s)")


class ConsensusFailure(StratumRuntimeError):
    """Too few quorum invocations agreed. ``outputs[i]`` is invocation i's result
    (None where it failed its contract; ``errors[i]`` then holds that failure)."""

    def __init__(
        self,
        function: str,
        outputs: Sequence[Any],
        votes: Mapping[Any, int],
        *,
        threshold: int,
        agree_on: str | None = None,
        errors: Sequence[BaseException | None] = (),
    ) -> None:
        self.function = function
        self.outputs = tuple(outputs)
        self.votes = dict(votes)
        self.threshold = threshold
        self.agree_on = agree_on
        self.errors = tuple(errors)
        super().__init__(f"{function}: no value reached {threshold} agreeing vote(s): {self.votes}")


class ParallelFailure(ExceptionGroup, StratumRuntimeError):  # type: ignore[misc]
    """``parallel()`` could not meet ``require``; the failed branches are ``exceptions``.

    ``indices[i]`` is the input position of ``exceptions[i]``; ``succeeded``
    counts the branches that had succeeded when the requirement became
    unreachable. Being an ``ExceptionGroup``, it also works with ``except*``.
    """

    require: Any
    indices: tuple[int, ...]
    succeeded: int

    def __new__(cls, require: Any, failures: Sequence[tuple[int, Exception]], succeeded: int) -> ParallelFailure:
        text = f"parallel(require={require!r}): {len(failures)} branch(es) failed, {succeeded} succeeded"
        self = super().__new__(cls, text, [exc for _, exc in failures])
        self.require = require
        self.indices = tuple(i for i, _ in failures)
        self.succeeded = succeeded
        return self

    def __init__(self, require: Any, failures: Sequence[tuple[int, Exception]], succeeded: int) -> None:
        super().__init__(self.message, self.exceptions)

    def derive(self, excs: Sequence[Exception]) -> ExceptionGroup[Exception]:  # type: ignore[override]
        # except* splits the group; the parts are plain groups (indices no longer line up).
        return ExceptionGroup(self.message, excs)


class ParallelValidationFailed(StratumRuntimeError):
    def __init__(self, results: Sequence[Any]) -> None:
        self.results = tuple(results)
        super().__init__(f"parallel results rejected by validate() ({len(self.results)} result(s))")


class HITLTimeoutError(StratumRuntimeError):
    def __init__(self, review_id: str, timeout_s: float | None = None) -> None:
        self.review_id = review_id
        self.timeout_s = timeout_s
        super().__init__(f"human review {review_id} timed out after {timeout_s}s")


class HITLDeliveryError(StratumRuntimeError):
    """A review never reached a human: ``sink`` gave up after ``attempts``.

    ``status`` is the last HTTP status when the sink speaks HTTP.
    """

    def __init__(
        self, review_id: str, sink: str, reason: str, *, attempts: int = 1, status: int | None = None
    ) -> None:
        self.review_id = review_id
        self.sink = sink
        self.reason = reason
        self.attempts = attempts
        self.status = status
        super().__init__(f"human review {review_id} not delivered by {sink} after {attempts} attempt(s): {reason}")


class InvalidDecision(StratumUsageError, TypeError):
    """A decision value does not fit the review's ``decision_type``.

    The review stays pending, so a corrected decision can still resolve it.
    ``errors`` lists what did not fit, one line per problem.
    """

    def __init__(self, review_id: str | None, expected: str, value: Any, *, errors: Sequence[str]) -> None:
        self.review_id = review_id
        self.expected = expected
        self.value = value
        self.errors = tuple(errors)
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"{shown} is not a valid {expected}: {'; '.join(self.errors)}")


class ReviewNotPending(StratumUsageError, LookupError):
    """A decision arrived for a review that cannot take one.

    ``state`` is ``"unknown"`` (no such id here), ``"resolved"``,
    ``"timed_out"`` or ``"cancelled"`` (also: a durable review whose flow
    was cancelled or finished without it).
    """

    def __init__(self, review_id: str, state: str) -> None:
        self.review_id = review_id
        self.state = state
        why = "is not known here" if state == "unknown" else f"is already closed ({state})"
        super().__init__(f"human review {review_id} {why}")


class StabilityAssertionError(StratumRuntimeError, AssertionError):
    """Sampled outputs disagree. ``distinct`` lists the compared values, most
    frequent first; ``counts[i]`` is how many samples gave ``distinct[i]``."""

    def __init__(
        self,
        function: str,
        agreement: float,
        threshold: float,
        *,
        distinct: Sequence[Any],
        counts: Sequence[int] = (),
    ) -> None:
        self.function = function
        self.agreement = agreement
        self.threshold = threshold
        self.distinct = tuple(distinct)
        self.counts = tuple(counts)
        super().__init__(
            f"{function}: agreement {agreement:.0%} below threshold {threshold:.0%}; "
            f"{len(self.distinct)} distinct value(s)"
        )


class FlowNotFound(StratumUsageError, LookupError):
    """No durable flow run has the id ``flow_id`` in this database and application."""

    def __init__(self, flow_id: str) -> None:
        self.flow_id = flow_id
        super().__init__(f"no durable flow run {flow_id!r}")


class FlowConflict(StratumUsageError):
    """``flow_id`` already names a run of ``existing`` (another flow, or other arguments).

    Starting the same flow with the same arguments under one id attaches to
    the run; anything else is refused rather than silently ignored.
    """

    def __init__(self, flow_id: str, existing: str, requested: str, reason: str) -> None:
        self.flow_id = flow_id
        self.existing = existing
        self.requested = requested
        self.reason = reason
        super().__init__(f"flow id {flow_id!r} already names a run of {existing}: {reason}")


class CheckpointError(StratumUsageError, TypeError):
    """The outcome of durable step ``step`` cannot be stored (``reason``); annotate its return type."""

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"{step}: its outcome cannot be checkpointed: {reason}")


class JobNotFound(StratumUsageError, LookupError):
    """No bulk job (``stratum.durable.map``) has the id ``job_id`` in this database."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no bulk job {job_id!r}")


class JobConflict(StratumUsageError):
    """``job_id`` already names a job of ``existing`` that differs from this one (``reason``).

    Running the same ``map`` again under its id attaches to the job and runs
    only its unfinished items; another function, queue, budget or list of
    items under that id is refused rather than mixed into it.
    """

    def __init__(self, job_id: str, existing: str, requested: str, reason: str) -> None:
        self.job_id = job_id
        self.existing = existing
        self.requested = requested
        self.reason = reason
        super().__init__(f"job id {job_id!r} already names a job of {existing}: {reason}")


class InvalidItem(StratumUsageError, TypeError):
    """Item ``index`` of job ``job_id`` is not something its function can take (``reason``).

    Found when the job is submitted, before anything is written.
    """

    def __init__(self, job_id: str, index: int, reason: str) -> None:
        self.job_id = job_id
        self.index = index
        self.reason = reason
        super().__init__(f"job {job_id}: item {index}: {reason}")


class ReplayMismatch(StratumRuntimeError):
    """A recovered run reached a step whose code no longer matches what was recorded.

    ``field`` is ``"compiled_prompt_hash"``, ``"contract_hash"`` or
    ``"step"`` (another function now sits at position ``position``);
    ``recorded`` and ``current`` are the two values. The run stops here
    rather than mixing old outputs with new behaviour.
    """

    def __init__(
        self, flow_id: str, step: str, field: str, recorded: str | None, current: str | None, *, position: int
    ) -> None:
        self.flow_id = flow_id
        self.step = step
        self.field = field
        self.recorded = recorded
        self.current = current
        self.position = position
        super().__init__(
            f"flow {flow_id}: step {position} ({step}) was recorded with {field}={recorded} "
            f"but the code now gives {current}; the run cannot be replayed"
        )


class FlowCancelled(StratumRuntimeError):
    """The durable flow run ``flow_id`` was cancelled (``stratum flows cancel``)."""

    def __init__(self, flow_id: str) -> None:
        self.flow_id = flow_id
        super().__init__(f"durable flow run {flow_id!r} was cancelled")


class FlowFailed(StratumRuntimeError):
    """A durable run failed with ``error_type`` (``message``), which cannot be rebuilt in this process."""

    def __init__(self, flow_id: str | None, error_type: str, message: str) -> None:
        self.flow_id = flow_id
        self.error_type = error_type
        self.message = message
        super().__init__(f"durable flow run {flow_id or '?'} failed with {error_type}: {message}")


class StratumWarning(UserWarning):
    """Something worth knowing that does not stop the call.

    Warnings from the declaration checks carry the same fields as
    ``StratumCompileError`` (``rule``, ``function``, ``source``, ``filename``,
    ``lineno``) and are attributed to the line they are about, so
    ``warnings.filterwarnings`` can silence one by message, module or line.
    """

    def __init__(
        self,
        message: str = "",
        *,
        rule: str | None = None,
        function: str | None = None,
        source: str | None = None,
        filename: str | None = None,
        lineno: int | None = None,
    ) -> None:
        self.rule = rule
        self.function = function
        self.source = source
        self.filename = filename
        self.lineno = lineno
        super().__init__(message)
