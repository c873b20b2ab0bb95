"""Where the call meets the tracer: spans of flows and @compute calls, their records, and ``shutdown``.

The span machinery itself (``Span``, ``SpanData``, the current-span
``ContextVar``, the attributes) lives in ``stratum._observability`` and knows
nothing of flows or configuration; this module reads both (the configured
tracer, the current flow scope) and opens the spans a flow and its
``@compute`` steps make. ``@infer`` spans are opened by the executor.

A ``@compute`` call inside a flow also leaves a ``TraceRecord``
(``kind="compute"``: inputs, output, duration, error, flow id); outside any
flow it is an ordinary function call and leaves nothing.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .._json import json_value
from .._observability.attributes import flow_attributes
from .._observability.records import ErrorInfo, TraceRecord, store
from . import scope
from .config import get_config
from .journal import TraceParent

__all__ = ["end_flow", "shutdown", "start_flow", "traced_compute"]

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from .._observability.spans import Span


def start_flow(name: str, parent: TraceParent | None = None) -> Span | None:
    """A root or child span for a flow call, or None when no tracer is configured.

    ``parent`` continues a recorded trace (a durable run recovered in another process).
    """
    tracer = get_config().tracer
    if tracer is None:
        return None
    from .._observability.spans import KIND_INTERNAL, Span  # loaded with the first tracer

    if parent is None:
        return Span(f"flow {name}", KIND_INTERNAL, tracer)
    return Span(f"flow {name}", KIND_INTERNAL, tracer, trace_id=parent.trace_id, parent_span_id=parent.span_id)


def end_flow(span: Span | None, flow: scope.FlowScope, error: BaseException | None = None) -> None:
    if span is not None:
        span.end(flow_attributes(flow.name, flow.flow_id, flow.envelope.spent_usd), error)


def _start_compute(name: str) -> Span | None:
    tracer = get_config().tracer
    if tracer is None:
        return None
    from .._observability.spans import KIND_INTERNAL, Span  # loaded with the first tracer

    return Span(f"compute {name}", KIND_INTERNAL, tracer)


def _compute_attributes(name: str, flow: scope.FlowScope) -> dict[str, Any]:
    return {"stratum.function": name, "stratum.flow_id": flow.flow_id}


class _Step:
    """One @compute call inside a flow: its span (with a tracer) and its trace record."""

    __slots__ = ("flow", "inputs", "name", "span", "started_at", "t0")

    def __init__(self, name: str, signature: inspect.Signature, flow: scope.FlowScope, args: Any, kwargs: Any):
        self.name, self.flow = name, flow
        self.inputs = _inputs(signature, args, kwargs)
        self.span = _start_compute(name)
        self.started_at = datetime.now(UTC)
        self.t0 = time.perf_counter()

    def end(self, output: Any = None, error: BaseException | None = None) -> None:
        duration_ms = (time.perf_counter() - self.t0) * 1000.0
        if self.span is not None:
            self.span.end(_compute_attributes(self.name, self.flow), error)
        store().append(
            TraceRecord(
                function=self.name, model=None, inputs=self.inputs, opaque_inputs=(), compiled_prompt_hash=None,
                contract_hash=None, attempts=0, output=None if error is not None else _safe(output),
                duration_ms=duration_ms, cost_usd=None, input_tokens=None, output_tokens=None, cache_hit=False,
                retry_reasons=(), flow_id=self.flow.flow_id, review_id=scope.current_review_id(self.flow),
                error=None if error is None else ErrorInfo(type(error).__name__, str(error)[:2000]),
                started_at=self.started_at, kind="compute",
            )
        )  # fmt: skip


def _inputs(signature: inspect.Signature, args: Any, kwargs: Any) -> Mapping[str, Any]:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return {}  # the call itself raises, and its record says why
    bound.apply_defaults()
    return {name: _safe(value) for name, value in bound.arguments.items()}


def _safe(value: Any) -> Any:
    """The JSON form of a step's input or output, or its (bounded) repr when it has none."""
    try:
        return json_value(value)
    except Exception:
        return repr(value)[:200]


def traced_compute(fn: F) -> F:
    """Wrap a @compute function so that a call inside a flow is a child span and a trace record.

    The wrapper keeps ``fn``'s nature: an ``async def`` stays a coroutine
    function, a plain function stays synchronous, and ``inspect.signature``
    sees the original signature (through ``__wrapped__``). Anything that is
    not a plain function (a class, a generator function, a callable object)
    is returned as it is.
    """
    if not inspect.isfunction(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        return fn
    name = fn.__qualname__
    signature = inspect.signature(fn)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)  # the journal reads its name and return annotation
        async def traced(*args: Any, **kwargs: Any) -> Any:
            flow = scope.current()
            if flow is None:
                return await fn(*args, **kwargs)
            step = _Step(name, signature, flow, args, kwargs)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                step.end(error=exc)
                raise
            step.end(result)
            return result

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            journal = scope.active_journal()
            if journal is not None:  # a durable flow: the call is a checkpointed step
                return await journal.compute(traced, args, kwargs)
            return await traced(*args, **kwargs)

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        flow = scope.current()
        if flow is None:
            return fn(*args, **kwargs)
        step = _Step(name, signature, flow, args, kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            step.end(error=exc)
            raise
        step.end(result)
        return result

    return run_sync  # type: ignore[return-value]


def shutdown(timeout_s: float = 5.0) -> bool:
    """Send every queued span and stop the exporters, within ``timeout_s`` in total.

    A custom tracer configured with ``configure(tracer=...)`` has its own
    ``shutdown()`` called too, if it has one. Runs by itself at interpreter
    exit; call it earlier where exit hooks do not run (``os._exit``, some
    serverless runtimes). Blocking: inside an event loop use
    ``await asyncio.to_thread(stratum.shutdown)``. Returns True if nothing was
    left unsent.

    >>> import stratum
    >>> stratum.shutdown()
    True
    """
    from .._observability.otlp.exporter import OTLPExporter, shutdown_all  # deferred: threads, httpx

    ok = shutdown_all(timeout_s)
    tracer = get_config().tracer
    if tracer is not None and not isinstance(tracer, OTLPExporter):
        close = getattr(tracer, "shutdown", None)  # optional, like an OpenTelemetry SDK exporter's
        if callable(close):  # called without arguments
            ok = close() is not False and ok
    return ok
