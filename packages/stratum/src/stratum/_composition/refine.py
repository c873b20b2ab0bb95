"""``@refine``: a convergence loop around a whole @infer call.

Each iteration runs the full @infer loop (retries, ``ensure``). Then
``until(result)`` decides, in this process, whether the result is done; if
not, ``feedback(result)`` says what is wrong, and the next iteration's prompt
carries it ("Previous output had the following issues: ... Fix these and
regenerate."). The model never sees ``until`` or ``feedback`` themselves and
never decides when it is finished::

    @refine(until=lambda code: run_tests(code).ok,
            feedback=lambda code: run_tests(code).failures,
            max_iterations=4)
    @infer(intent="Write a Python function that satisfies the spec", budget=Budget(usd=0.05))
    def write_code(spec: str) -> Code: ...

``until`` and ``feedback`` may be plain or ``async`` functions; feedback may
return any value (a string, a list of problems, a dict, a contract), which is
rendered as text. Opaque data never reaches that text: fields declared
``opaque[T]`` are named, not shown, and any of the call's opaque input texts
the feedback repeats (a model echoing its input into a field, say) is
replaced by a reference to the input. All iterations draw from one budget envelope: the @infer
function's ``budget`` bounds the whole loop, inside the caller's flow budget.
Out of iterations -> ``ConvergenceFailure`` with every output and feedback.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from .._core import opacity, scope
from .._core.budget import Envelope
from .._core.calls import run_once, warn_if_unsampled
from .._core.config import get_config
from .._core.spec import InferSpec
from .._observability.records import TraceRecord, store
from ..exceptions import ConvergenceFailure, StratumCompileError

__all__ = ["RefineFunction", "refine"]

#: Feedback is written by host code (a test runner's output, say); the prompt gets at most this much of it.
MAX_FEEDBACK_CHARS = 4000
_NO_DETAILS = "The output did not meet the requirements (no details were given)."


def refine(
    until: Callable[[Any], Any],
    feedback: Callable[[Any], Any],
    max_iterations: int = 5,
) -> Callable[[Any], RefineFunction]:
    """Stack above ``@infer`` to iterate until ``until(result)`` is true.

    >>> # @refine(until=lambda r: r.score >= 8, feedback=lambda r: r.weaknesses, max_iterations=3)
    >>> # @infer(intent="Write a product description")
    >>> # def describe(product: str) -> Draft: ...
    """
    for name, fn in (("until", until), ("feedback", feedback)):
        if not callable(fn):
            raise StratumCompileError(f"@refine: {name} must be a function of the result, got {fn!r}")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
        raise StratumCompileError(f"@refine: max_iterations must be an int >= 1, got {max_iterations!r}")

    def decorate(target: Any) -> RefineFunction:
        from .._core.analysis import findings, references  # deferred: loaded by decoration only

        if getattr(target, "__stratum_error__", None) is not None:
            return target  # type: ignore[no-any-return]  # `stratum check` already reported the @infer below
        try:
            spec = getattr(target, "spec", None)
            if isinstance(target, RefineFunction) or not isinstance(spec, InferSpec):
                raise StratumCompileError(
                    f"@refine must be stacked directly above @infer (put @refine first), got {target!r}",
                    rule="declaration",
                )
            if not spec.stable:
                raise StratumCompileError(
                    f"@refine {spec.qualname}: until() needs one result, but stable=False returns a distribution",
                    rule="declaration",
                    function=spec.qualname,
                )
            pending = references.check_refine(spec.qualname, until, feedback)
        except StratumCompileError as exc:
            if findings.record_error(exc, findings.location(getattr(target, "__wrapped__", target))):
                return findings.Unbuilt(target, exc)  # type: ignore[return-value]
            raise
        return RefineFunction(target, until=until, feedback=feedback, limit=max_iterations, pending=pending)

    return decorate


class RefineFunction:
    """An @infer function wrapped in a refine loop. Calling it returns a coroutine."""

    def __init__(
        self,
        target: Any,
        *,
        until: Callable[[Any], Any],
        feedback: Callable[[Any], Any],
        limit: int,
        pending: Any = None,
    ) -> None:
        functools.update_wrapper(self, target)
        self.spec: InferSpec = target.spec
        self.until = until
        self.feedback = feedback
        self.max_iterations = limit
        self.__signature__ = self.spec.signature
        #: the declaration check still due (a name until/feedback load was not defined yet), for `stratum check`
        self.__stratum_pending__ = pending

    def __call__(self, *args: Any, **kwargs: Any) -> typing.Coroutine[Any, Any, Any]:
        pending = self.__stratum_pending__
        if pending is not None and pending.due:
            pending.run()
        if get_config().test_mode:
            warn_if_unsampled(self.spec, stacklevel=3)
        return self._run(args, kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return self if instance is None else functools.partial(self, instance)

    def __repr__(self) -> str:
        return f"<refine {self.spec.qualname} -> {self.spec.output.name} (max {self.max_iterations})>"

    async def _run(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        spec = self.spec
        flow = scope.current()
        envelope = Envelope(spec.budget, spec.qualname, parent=flow.envelope if flow else None)
        left = envelope.remaining_seconds()
        if left is None:
            return await self._loop(args, kwargs, envelope)
        # The time budget also covers until() and feedback(), which run between model calls.
        try:
            async with asyncio.timeout(left) as deadline:
                return await self._loop(args, kwargs, envelope)
        except TimeoutError:
            if deadline.expired():
                raise envelope.exceeded("time", spec.qualname) from None
            raise

    async def _loop(self, args: tuple[Any, ...], kwargs: Mapping[str, Any], envelope: Envelope) -> Any:
        spec = self.spec
        loop_id = uuid.uuid4().hex
        outputs: list[Any] = []
        notes: list[Any] = []
        text: str | None = None
        for iteration in range(1, self.max_iterations + 1):
            envelope.check(spec.qualname)
            tag = {"id": loop_id, "iteration": iteration, "max_iterations": self.max_iterations}
            result = await run_once(
                spec, args, kwargs, refine_feedback=text, envelope=envelope, record_sink=_tagged(tag)
            )
            outputs.append(result)
            if await _host(self.until, result):
                return result
            note = await _host(self.feedback, result)
            notes.append(note)
            text = render_feedback(note)
        raise ConvergenceFailure(spec.qualname, outputs, notes)


async def _host(fn: Callable[[Any], Any], result: Any) -> Any:
    value = fn(result)
    return await value if inspect.isawaitable(value) else value


def _tagged(tag: dict[str, Any]) -> Callable[[TraceRecord], None]:
    return lambda record: store().append(replace(record, extra={**record.extra, "refine": tag}))


def render_feedback(note: Any) -> str:
    """Feedback of any shape as prompt text: lists and mappings become bullet lines."""
    if isinstance(note, str):
        text = note.strip()
    elif isinstance(note, Mapping):
        text = "\n".join(f"- {key}: {_item(value)}" for key, value in note.items())
    elif isinstance(note, (list, tuple, set, frozenset)):
        text = "\n".join(f"- {_item(value)}" for value in note)
    elif note is None:
        text = ""
    else:
        text = _item(note)
    if not text:
        return _NO_DETAILS
    if len(text) > MAX_FEEDBACK_CHARS:
        text = text[:MAX_FEEDBACK_CHARS] + f"\n... ({len(text) - MAX_FEEDBACK_CHARS} more characters not shown)"
    return text


def _item(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        # Fields declared opaque (of a contract, dataclass...) are named, never shown.
        form = opacity.split(value, Any, "", {}, named=True)
        compact = (",", ":") if isinstance(value, BaseModel) else None  # as pydantic writes a model
        return json.dumps(form, ensure_ascii=False, separators=compact)
    except Exception:  # anything pydantic cannot serialise is shown as Python would print it
        return str(value)
