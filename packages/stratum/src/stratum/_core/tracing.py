"""Where the call meets the tracer: spans of flows and @compute calls, and ``shutdown``.

The span machinery itself (``Span``, ``SpanData``, the current-span
``ContextVar``, the attributes) lives in ``stratum._observability`` and knows
nothing of flows or configuration; this module reads both (the configured
tracer, the current flow scope) and opens the spans a flow and its
``@compute`` steps make. ``@infer`` spans are opened by the executor.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from .._observability.attributes import flow_attributes
from .._observability.spans import KIND_INTERNAL, Span
from . import scope
from .config import get_config
from .journal import TraceParent

__all__ = ["end_flow", "shutdown", "start_flow", "traced_compute"]

F = TypeVar("F", bound=Callable[..., Any])


def start_flow(name: str, parent: TraceParent | None = None) -> Span | None:
    """A root or child span for a flow call, or None when no tracer is configured.

    ``parent`` continues a recorded trace (a durable run recovered in another process).
    """
    tracer = get_config().tracer
    if tracer is None:
        return None
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
    flow = scope.current()
    if flow is None:
        return None  # a @compute outside any flow is an ordinary function call
    return Span(f"compute {name}", KIND_INTERNAL, tracer)


def _compute_attributes(name: str) -> dict[str, Any]:
    flow = scope.current()
    attributes: dict[str, Any] = {"stratum.function": name}
    if flow is not None:
        attributes["stratum.flow_id"] = flow.flow_id
    return attributes


def traced_compute(fn: F) -> F:
    """Wrap a @compute function so a call inside a flow is a child span.

    The wrapper keeps ``fn``'s nature: an ``async def`` stays a coroutine
    function, a plain function stays synchronous, and ``inspect.signature``
    sees the original signature (through ``__wrapped__``). Anything that is
    not a plain function (a class, a generator function, a callable object)
    is returned as it is.
    """
    if not inspect.isfunction(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        return fn
    name = fn.__qualname__
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)  # the journal reads its name and return annotation
        async def traced(*args: Any, **kwargs: Any) -> Any:
            span = _start_compute(name)
            if span is None:
                return await fn(*args, **kwargs)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                span.end(_compute_attributes(name), exc)
                raise
            span.end(_compute_attributes(name))
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
        span = _start_compute(name)
        if span is None:
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            span.end(_compute_attributes(name), exc)
            raise
        span.end(_compute_attributes(name))
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
