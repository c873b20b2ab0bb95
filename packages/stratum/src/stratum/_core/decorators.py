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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from ..exceptions import StratumCompileError, StratumConfigError
from . import scope, tracing
from .budget import Budget, Envelope
from .calls import InferFunction
from .compiler import parse_template
from .conditions import describe
from .contracts import is_supported_output, output_spec
from .journal import DurableFlow, DurableRunner, Journal, TraceParent
from .journal import register as register_durable
from .opacity import is_opaque, opaque_paths
from .spec import STRUCTURED_OUTPUTS, CacheScope, InferSpec, Param, StructuredOutput

__all__ = ["compute", "flow", "infer"]

F = TypeVar("F", bound=Callable[..., Any])
_CACHE_SCOPES = ("none", "session", "global")


def _empty() -> None: ...


def _empty_doc() -> None:
    """Docstring only."""


async def _empty_async() -> None: ...


async def _empty_async_doc() -> None:
    """Docstring only."""


# The bytecode of a body that is only `...` (or a docstring), plain or `async def`.
_EMPTY_BODIES = {f.__code__.co_code for f in (_empty, _empty_doc, _empty_async, _empty_async_doc)}


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
    structured_output: StructuredOutput | None = None,
) -> Callable[[Callable[..., Any]], InferFunction]:
    """Declare an LLM call by its typed signature: ``def`` or ``async def``, body ``...``.

    Either way the call is awaited: ``await classify(text=...)``.
    ``retries`` is the number of extra attempts after the first when the
    output fails to parse or fails an ``ensure``; transient provider errors
    are retried separately (see ``configure(max_transient_retries=...)``).
    ``structured_output`` (``"auto"``, ``"json_schema"``, ``"json_object"``)
    overrides ``configure(structured_output=...)`` for this function. The
    declaration is checked here (docs/checks.md): a mistake raises
    ``StratumCompileError`` now, not after a paid call.
    """

    def decorate(fn: Callable[..., Any]) -> InferFunction:
        from . import analysis  # deferred: loaded by the first decoration, not by `import stratum`

        owner = getattr(fn, "__qualname__", repr(fn))
        try:
            if not inspect.isfunction(fn):
                raise StratumCompileError(f"@infer expects a function, got {fn!r}", rule="declaration")
            if fn.__code__.co_code not in _EMPTY_BODIES:
                raise analysis.declarations.body_error(fn, owner)
            _check_arguments(
                owner, retries=retries, cache=cache, budget=budget, temperature=temperature,
                structured_output=structured_output,
            )  # fmt: skip
            build = functools.partial(
                _build_spec, fn, owner=owner, intent=intent, context=context, ensure=ensure, given=given,
                model=model, temperature=temperature, budget=budget, retries=retries, cache=cache, stable=stable,
                quorum=quorum, agree_on=agree_on, threshold=threshold, structured_output=structured_output,
            )  # fmt: skip
            try:
                return InferFunction(fn, build())
            except StratumCompileError as exc:
                if exc.rule != "unresolved-annotation":
                    raise
                # An annotation names a class defined later: resolved (and checked) at first use.
                return InferFunction(fn, build)
        except StratumCompileError as exc:
            if analysis.findings.record_error(exc, analysis.findings.location(fn)):
                return analysis.findings.Unbuilt(fn, exc)  # type: ignore[return-value]
            raise

    return decorate


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or callable(value):
        return (value,)
    return tuple(value)


def _check_arguments(
    owner: str, *, retries: Any, cache: Any, budget: Any, temperature: Any, structured_output: Any
) -> None:
    def error(problem: str) -> StratumCompileError:
        return StratumCompileError(f"@infer {owner}: {problem}", rule="declaration", function=owner)

    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise error(f"retries must be an int >= 0, got {retries!r}")
    if cache not in _CACHE_SCOPES:
        raise error(f"cache must be one of {_CACHE_SCOPES}, got {cache!r}")
    if budget is not None and not isinstance(budget, Budget):
        raise error(f"budget must be a stratum.Budget, got {budget!r}")
    if structured_output is not None and structured_output not in STRUCTURED_OUTPUTS:
        raise error(f"structured_output must be one of {STRUCTURED_OUTPUTS}, got {structured_output!r}")
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
        raise error(f"temperature must be a number in [0, 2], got {temperature!r}")


def _build_spec(
    fn: Callable[..., Any],
    *,
    owner: str,
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
    structured_output: str | None,
) -> InferSpec:
    from . import analysis

    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise analysis.declarations.unresolved_error(fn, owner, exc) from None
    except Exception as exc:
        raise StratumCompileError(f"@infer {owner}: cannot resolve annotations: {exc}", rule="declaration") from exc
    if "return" not in hints:
        raise StratumCompileError(
            f"@infer {owner}: a return annotation (a contract or a primitive) is required",
            rule="return-type",
            function=owner,
        )
    if not is_supported_output(hints["return"]):
        raise analysis.declarations.return_error(fn, owner, hints["return"])
    output = output_spec(hints["return"], owner)
    signature = inspect.signature(fn)
    # A method's receiver is bound like any method's and never enters the prompt.
    names_in_prompt = [n for i, n in enumerate(signature.parameters) if not (i == 0 and n in ("self", "cls"))]
    params = tuple(_param(name, signature.parameters[name], hints=hints, owner=owner) for name in names_in_prompt)
    spec = InferSpec(
        name=fn.__name__,
        qualname=owner,
        module=getattr(fn, "__module__", "") or "",
        signature=signature,
        params=params,
        intent=parse_template(intent, params, role="intent", owner=owner),
        context=tuple(parse_template(c, params, role="context", owner=owner) for c in _as_tuple(context)),
        ensure=tuple(describe(e, "ensure") for e in _as_tuple(ensure)),
        given=tuple(describe(g, "given") for g in _as_tuple(given)),
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
        structured_output=structured_output,  # type: ignore[arg-type]
    )
    analysis.check_infer(fn, spec)
    return spec


def _param(name: str, p: inspect.Parameter, *, hints: dict[str, Any], owner: str) -> Param:
    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
        raise StratumCompileError(
            f"@infer {owner}: *args/**kwargs cannot be bound into a prompt", rule="declaration", function=owner
        )
    annotation = hints.get(name, Any)
    whole = is_opaque(annotation)
    hidden = frozenset() if whole else opaque_paths(annotation)
    plain = annotation in (str, int, float, bool)
    return Param(name=name, annotation=annotation, opaque=whole, opaque_fields=hidden, plain=plain)


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
def flow(
    *, budget: Budget | None = None, context: str | Sequence[str] = (), durable: bool | DurableRunner = False
) -> Callable[[F], F]: ...


def flow(
    fn: Any = None,
    /,
    *,
    budget: Budget | None = None,
    context: str | Sequence[str] = (),
    durable: bool | DurableRunner = False,
) -> Any:
    """Open a flow scope (flow id, budget envelope, session cache) for an ``async def``.

    Calls inside it, at any depth and in any task it starts, share the scope;
    with ``budget`` set the whole flow stops with ``BudgetExceeded`` when a
    limit is reached. ``context`` annotations reach the prompt of every
    @infer call inside, before the function's own; a flow called from a flow
    adds its own after the caller's. The body is read (never run) for budgets
    that cannot all be met and for calls that could run together
    (docs/checks.md).

    ``durable=True`` makes each call a durable run on the backend set with
    ``configure(durable=stratum.durable.dbos(...))`` (or the backend passed
    here): every @infer and async @compute call is a checkpoint, so a run
    recovered after a crash resumes where it stopped (see ``docs/durable.md``).
    Called inside another durable flow, it runs as part of that run.

    >>> @flow(context="Treat sarcasm as negative.")
    ... async def triage(text: str) -> bool: ...
    """
    if budget is not None and not isinstance(budget, Budget):
        raise StratumCompileError(f"@flow: budget must be a stratum.Budget, got {budget!r}", rule="declaration")
    if not isinstance(context, (str, Sequence)):
        raise StratumCompileError(
            f"@flow: context must be a string or a list of strings, got {context!r}", rule="declaration"
        )
    annotations = _as_tuple(context)
    for note in annotations:
        if not isinstance(note, str):
            raise StratumCompileError(
                f"@flow: context must be a string or a list of strings, got {note!r}", rule="declaration"
            )
    if not isinstance(durable, bool) and not isinstance(durable, DurableRunner):
        raise StratumCompileError(
            f"@flow: durable must be True, False or a durable backend, got {durable!r}", rule="declaration"
        )

    def decorate(func: Any) -> Any:
        from . import analysis

        if not inspect.iscoroutinefunction(func):
            error = analysis.declarations.not_async_error(func)
            if analysis.findings.record_error(error, analysis.findings.location(func)):
                return func
            raise error
        name = func.__qualname__
        pending = analysis.flows.check_flow(func, budget)  # None, or still due at the first call

        async def run_scoped(
            args: tuple[Any, ...],
            kwargs: Mapping[str, Any],
            flow_id: str | None,
            journal: Journal | None,
            trace: TraceParent | None,
        ) -> Any:
            import asyncio  # already loaded by the running loop; deferred for `import stratum`

            if pending is not None and pending.due:
                pending.run()
            parent = scope.current()
            envelope = Envelope(budget, name, parent=parent.envelope if parent else None)
            opened = scope.FlowScope(
                flow_id=flow_id or str(uuid.uuid4()), name=name, envelope=envelope, parent=parent,
                context=(*parent.context, *annotations) if parent else annotations, journal=journal,
            )  # fmt: skip
            token = scope.enter(opened)
            span = tracing.start_flow(name, trace)  # None when no tracer is configured
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

        definition: DurableFlow | None = None
        if durable is not False:
            definition = DurableFlow(
                name=f"{func.__module__}.{name}",
                qualname=name,
                fn=func,
                run=lambda args, kwargs, flow_id, journal, trace: run_scoped(args, kwargs, flow_id, journal, trace),
            )
            register_durable(definition)  # no backend is loaded here; it learns of the flow when it starts

        @functools.wraps(func)
        async def run_flow(*args: Any, **kwargs: Any) -> Any:
            parent = scope.current()
            inherited = parent.journal if parent is not None else None
            if definition is not None and inherited is None:
                return await _runner(durable, name).run_flow(definition, args, kwargs)
            return await run_scoped(args, kwargs, None, inherited, None)

        run_flow.__stratum_flow__ = True  # type: ignore[attr-defined]
        if definition is not None:
            run_flow.__stratum_durable__ = definition  # type: ignore[attr-defined]
        run_flow.__stratum_pending__ = pending  # type: ignore[attr-defined]  # for `stratum check`
        return run_flow

    return decorate(fn) if fn is not None else decorate


def _runner(durable: bool | DurableRunner, name: str) -> DurableRunner:
    if not isinstance(durable, bool):
        return durable
    from .config import get_config

    runner = get_config().durable
    if runner is None:
        raise StratumConfigError(
            f"@flow(durable=True) {name}: no durable backend; call "
            "stratum.configure(durable=stratum.durable.dbos()) first"
        )
    return runner
