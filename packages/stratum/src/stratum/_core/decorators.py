"""``@infer``, ``@compute`` and ``@flow``.

``@infer`` turns a bodiless typed signature into an awaitable LLM call;
``@compute`` marks an ordinary function. Both are awaited the same way inside
a ``@flow``, so one can replace the other without changing callers::

    @infer(intent="Route this support ticket")
    def route(text: str) -> Route: ...

    @compute
    async def route(text: str) -> Route:   # same signature, no model
        return Route(team=keyword_match(text))

    @flow(budget=Budget(ms=5000, usd=0.01))
    async def handle(text: str) -> Route:
        return await route(text=text)
"""

from __future__ import annotations

import functools
import inspect
import typing
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from ..exceptions import StratumCompileError
from . import scope, tracing
from .budget import Budget, Envelope
from .calls import InferFunction
from .compiler import parse_template
from .conditions import describe
from .contracts import output_spec
from .opacity import is_opaque, opaque_paths
from .spec import CacheScope, InferSpec, Param

__all__ = ["compute", "flow", "infer"]

F = TypeVar("F", bound=Callable[..., Any])
_CACHE_SCOPES = ("none", "session", "global")


def _empty() -> None: ...


def _empty_doc() -> None:
    """Docstring only."""


_EMPTY_BODIES = {_empty.__code__.co_code, _empty_doc.__code__.co_code}


def infer(
    intent: str,
    *,
    context: str | Sequence[str] = (),
    ensure: Callable[[Any], Any] | Sequence[Callable[[Any], Any]] = (),
    given: Callable[..., Any] | Sequence[Callable[..., Any]] = (),
    model: str | None = None,
    temperature: float | None = None,
    budget: Budget | None = None,
    retries: int = 3,
    cache: CacheScope = "none",
    stable: bool = True,
    quorum: int | None = None,
    agree_on: str | None = None,
    threshold: int | None = None,
) -> Callable[[Callable[..., Any]], InferFunction]:
    """Declare an LLM call by its typed signature.

    ``retries`` is the number of extra attempts after the first when the
    output fails to parse or fails an ``ensure``; transient provider errors
    are retried separately (see ``configure(max_transient_retries=...)``).
    """

    def decorate(fn: Callable[..., Any]) -> InferFunction:
        spec = _build_spec(
            fn, intent=intent, context=context, ensure=ensure, given=given, model=model,
            temperature=temperature, budget=budget, retries=retries, cache=cache, stable=stable,
            quorum=quorum, agree_on=agree_on, threshold=threshold,
        )  # fmt: skip
        return InferFunction(fn, spec)

    return decorate


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or callable(value):
        return (value,)
    return tuple(value)


def _build_spec(
    fn: Callable[..., Any],
    *,
    intent: Any,
    context: Any,
    ensure: Any,
    given: Any,
    model: str | None,
    temperature: float | None,
    budget: Budget | None,
    retries: int,
    cache: str,
    stable: bool,
    quorum: int | None,
    agree_on: str | None,
    threshold: int | None,
) -> InferSpec:
    owner = getattr(fn, "__qualname__", repr(fn))
    if not inspect.isfunction(fn):
        raise StratumCompileError(f"@infer expects a function, got {fn!r}")
    if inspect.iscoroutinefunction(fn) or fn.__code__.co_code not in _EMPTY_BODIES:
        raise StratumCompileError(
            f"@infer {owner}: the body must be `...` (the model is the implementation); "
            "use @compute for a function with a body"
        )
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise StratumCompileError(f"@infer {owner}: cannot resolve annotations: {exc}") from exc
    if "return" not in hints:
        raise StratumCompileError(f"@infer {owner}: a return annotation (a contract or a primitive) is required")
    output = output_spec(hints["return"], owner)
    signature = inspect.signature(fn)
    # A method's receiver is bound like any method's and never enters the prompt.
    names_in_prompt = [n for i, n in enumerate(signature.parameters) if not (i == 0 and n in ("self", "cls"))]
    params = tuple(_param(name, signature.parameters[name], hints=hints, owner=owner) for name in names_in_prompt)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise StratumCompileError(f"@infer {owner}: retries must be an int >= 0, got {retries!r}")
    if cache not in _CACHE_SCOPES:
        raise StratumCompileError(f"@infer {owner}: cache must be one of {_CACHE_SCOPES}, got {cache!r}")
    if budget is not None and not isinstance(budget, Budget):
        raise StratumCompileError(f"@infer {owner}: budget must be a stratum.Budget, got {budget!r}")
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
        raise StratumCompileError(f"@infer {owner}: temperature must be a number in [0, 2], got {temperature!r}")
    _check_quorum(
        owner, output.model if not output.wrapped else None, quorum=quorum, agree_on=agree_on, threshold=threshold
    )
    given_conds = tuple(describe(g, "given") for g in _as_tuple(given))
    names = set(signature.parameters)
    for cond in given_conds:
        unknown = [p for p in cond.params if p not in names]
        if unknown:
            raise StratumCompileError(
                f"@infer {owner}: given `{cond.source}` takes {unknown}, which are not parameters of {owner}"
            )
    return InferSpec(
        name=fn.__name__,
        qualname=owner,
        module=getattr(fn, "__module__", "") or "",
        signature=signature,
        params=params,
        intent=parse_template(intent, params, role="intent", owner=owner),
        context=tuple(parse_template(c, params, role="context", owner=owner) for c in _as_tuple(context)),
        ensure=tuple(describe(e, "ensure") for e in _as_tuple(ensure)),
        given=given_conds,
        output=output,
        model=model,
        temperature=temperature,
        budget=budget,
        retries=retries,
        cache=cache,  # type: ignore[arg-type]
        stable=stable,
        quorum=quorum,
        agree_on=agree_on,
        threshold=threshold,
    )


def _param(name: str, p: inspect.Parameter, *, hints: dict[str, Any], owner: str) -> Param:
    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
        raise StratumCompileError(f"@infer {owner}: *args/**kwargs cannot be bound into a prompt")
    annotation = hints.get(name, Any)
    whole = is_opaque(annotation)
    hidden = frozenset() if whole else opaque_paths(annotation)
    plain = annotation in (str, int, float, bool)
    return Param(name=name, annotation=annotation, opaque=whole, opaque_fields=hidden, plain=plain)


def _check_quorum(
    owner: str, model: type[BaseModel] | None, *, quorum: int | None, agree_on: str | None, threshold: int | None
) -> None:
    if quorum is None:
        if threshold is not None:
            raise StratumCompileError(f"@infer {owner}: threshold needs quorum=N")
        if agree_on is None:
            return
    elif isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
        raise StratumCompileError(f"@infer {owner}: quorum must be an int >= 1, got {quorum!r}")
    elif agree_on is None or threshold is None:
        raise StratumCompileError(f"@infer {owner}: quorum={quorum} needs both agree_on= and threshold=")
    if model is None or agree_on not in model.model_fields:
        fields = sorted(model.model_fields) if model is not None else []
        raise StratumCompileError(f"@infer {owner}: agree_on={agree_on!r} is not a field of the contract {fields}")
    if quorum is None:  # agree_on alone decides agreement for stability sampling and debate
        return
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= quorum:
        raise StratumCompileError(
            f"@infer {owner}: threshold must be an int in [1, quorum={quorum}], got {threshold!r}"
        )


def compute(fn: F) -> F:
    """Mark a deterministic function as a flow step.

    The function keeps its own sync/async nature and signature: an ``async``
    @compute is a drop-in replacement for an @infer with the same signature.
    """
    if not callable(fn):
        raise StratumCompileError(f"@compute expects a function, got {fn!r}")
    fn.__stratum_compute__ = True  # type: ignore[attr-defined]
    return tracing.traced_compute(fn)  # a child span inside a traced flow; same sync/async nature


@overload
def flow(fn: F, /) -> F: ...
@overload
def flow(*, budget: Budget | None = None) -> Callable[[F], F]: ...


def flow(fn: Any = None, /, *, budget: Budget | None = None) -> Any:
    """Open a flow scope (flow id, budget envelope, session cache) for an ``async def``.

    Calls inside it, at any depth and in any task it starts, share the scope;
    with ``budget`` set the whole flow stops with ``BudgetExceeded`` when a
    limit is reached.
    """
    if budget is not None and not isinstance(budget, Budget):
        raise StratumCompileError(f"@flow: budget must be a stratum.Budget, got {budget!r}")

    def decorate(func: Any) -> Any:
        if not inspect.iscoroutinefunction(func):
            raise StratumCompileError(
                f"@flow {getattr(func, '__qualname__', func)!r}: a flow must be an `async def`"
            )
        name = func.__qualname__

        @functools.wraps(func)
        async def run_flow(*args: Any, **kwargs: Any) -> Any:
            import asyncio  # already loaded by the running loop; deferred for `import stratum`

            parent = scope.current()
            envelope = Envelope(budget, name, parent=parent.envelope if parent else None)
            opened = scope.FlowScope(flow_id=str(uuid.uuid4()), name=name, envelope=envelope, parent=parent)
            token = scope.enter(opened)
            span = tracing.start_flow(name)  # None when no tracer is configured
            try:
                left = envelope.remaining_seconds()
                if left is None:
                    return await func(*args, **kwargs)
                try:
                    async with asyncio.timeout(left) as deadline:
                        opened.timeout = deadline  # held while a human decides (scope.clock_stopped)
                        return await func(*args, **kwargs)
                except TimeoutError:
                    if deadline.expired():
                        raise envelope.exceeded("time", name) from None
                    raise
            except BaseException as exc:
                tracing.end_flow(span, opened, exc)
                span = None
                raise
            finally:
                tracing.end_flow(span, opened)
                scope.leave(token)

        run_flow.__stratum_flow__ = True  # type: ignore[attr-defined]
        return run_flow

    return decorate(fn) if fn is not None else decorate

