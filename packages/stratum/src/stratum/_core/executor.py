"""The @infer execution loop.

For one call, in order:

1. ``given`` predicates see the arguments; False -> ``PreconditionFailed``,
   nothing is sent.
2. The client is warm for the model (once per process, off the loop and off
   the budget's clock: ``stratum._core.warmup``), and the prompt is compiled
   to a ``ContextObject`` (``stratum._core.compiler``).
3. The client is called with the contract's JSON Schema as structured
   output, under the time budget (``asyncio.timeout``) and with
   ``max_tokens`` capped so the request cannot cost more than what remains.
   A USD budget the model has no price for is refused before sending.
4. The output is parsed against the contract; a mismatch is a violation.
5. ``ensure`` predicates run; each failure is a specific violation.
6. No violation -> the typed value is returned. Otherwise the next attempt
   carries ONLY the latest violations. Out of attempts -> ``ParseFailure``
   or ``PostconditionFailed`` with the full history.

Every call, success or failure, leaves a ``TraceRecord``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import logging
import math
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pydantic

from .._observability.records import ErrorInfo, TraceRecord, store
from .._retry import pause
from ..clients._protocol import CompletionRequest, CompletionResponse, LLMClient, ModelInfo, TransientError
from ..exceptions import (
    AttemptRecord,
    MalformedResponse,
    ParseFailure,
    PostconditionFailed,
    StratumConfigError,
    Violation,
)
from . import opacity, scope, warmup
from .budget import Envelope
from .compiler import ContextObject, build_context, debug_log, hash_prompt, jsonable, structured_mode
from .conditions import check_ensure, check_given
from .config import Config, get_config, resolve_client
from .opacity import opaque_paths
from .spec import InferSpec

__all__ = ["CallState", "execute", "prompt_hash_of", "run"]

_log = logging.getLogger("stratum.executor")

# Bounds on what a hostile or broken model can make the runtime hold.
_RAW_KEEP_CHARS = 20_000
_MAX_PARSE_VIOLATIONS = 10
# Prompt-size margin: token counters and providers disagree by a few percent.
_PROMPT_MARGIN = 1.05
_PROMPT_MARGIN_TOKENS = 16
# Prompts longer than this are counted in a worker thread, under the time budget: tokenizing
# hundreds of kilobytes on the event loop would hold every task (and the deadline) back. (The
# tokenizer itself is loaded by the client's one-time warm-up.)
_COUNT_OFF_LOOP_CHARS = 16_000


class CallState:
    """Mutable facts about one call, gathered for its trace record."""

    __slots__ = (
        "attempts",
        "cache_hit",
        "cost_usd",
        "impossible_usage",
        "input_tokens",
        "output_tokens",
        "prompt_hash",
        "response_model",
        "retry_reasons",
        "review_id",
        "transient_retries",
        "warmup_ms",
    )  # fmt: skip

    def __init__(self) -> None:
        self.attempts = 0
        self.prompt_hash: str | None = None
        self.cost_usd: float | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.retry_reasons: list[str] = []
        self.transient_retries = 0
        self.response_model: str | None = None
        self.cache_hit = False
        self.review_id: str | None = None
        self.warmup_ms = 0.0
        self.impossible_usage = False

    def add_usage(self, response: CompletionResponse, cost: float | None) -> None:
        if response.input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + response.input_tokens
        if response.output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + response.output_tokens
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost
        if response.model:
            self.response_model = response.model


async def execute(
    spec: InferSpec,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    refine_feedback: str | None = None,
    envelope: Envelope | None = None,
    record_sink: collections.abc.Callable[[TraceRecord], None] | None = None,
) -> Any:
    """Run one @infer call to completion (or a typed failure) and trace it.

    Composition passes ``envelope`` (one budget shared by refine iterations or
    quorum invocations) and ``record_sink`` (to tag or hold the trace record).
    """
    journal = scope.active_journal()
    if journal is not None:  # a durable flow: the call is a checkpointed step (it calls back here)
        return await journal.infer(
            spec, args, kwargs, refine_feedback=refine_feedback, envelope=envelope, record_sink=record_sink
        )
    cfg = get_config()
    arguments = spec.binding.arguments(args, kwargs)
    flow = scope.current()
    if envelope is None:
        envelope = Envelope(spec.budget, spec.qualname, parent=flow.envelope if flow else None)
    state = CallState()
    state.review_id = scope.current_review_id(flow)  # the human decision this call follows, if any
    model = spec.model or cfg.default_model
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    ctx: ContextObject | None = None
    output: Any = None
    error: BaseException | None = None
    span = None
    if cfg.tracer is not None:  # the span machinery loads with the first tracer
        from .._observability import spans

        span = spans.start_infer(spec.qualname, cfg.tracer)
    try:
        if spec.given:
            await check_given(spec.qualname, spec.given, arguments)
        if not model:
            raise StratumConfigError(
                f"{spec.qualname}: no model; pass @infer(model=...) or stratum.configure(default_model=...)"
            )
        client = resolve_client(model)
        state.warmup_ms = await warmup.ready(client, model, envelope=envelope, flow=flow)
        info = _with_configured_prices(client.model_info(model), model, cfg)
        mode = structured_mode(spec, cfg.structured_output, info)
        ctx = build_context(spec, arguments, model, mode=mode, flow=flow)
        if refine_feedback:
            ctx = ctx.with_refine_feedback(refine_feedback)
        first = ctx.messages()  # the first attempt's, built once: hashed here and sent below
        state.prompt_hash = hash_prompt(first, ctx.response_format)
        attempts = functools.partial(
            _attempts, spec, ctx, client=client, info=info, model=model, envelope=envelope, state=state, cfg=cfg,
            first=first,
        )  # fmt: skip
        # Quorum invocations and stability samples must each ask the model:
        # a shared cache entry (or single flight) would make them one vote.
        if spec.cache == "none" or spec.quorum is not None or not spec.stable:
            value = await attempts()
        else:
            from .caching import through_cache  # loaded on first cached call: keeps `import stratum` light

            run = attempts
            value, hit = await through_cache(spec, ctx, model, envelope=envelope, run=run)
            if hit:  # no request was sent: nothing was spent
                state.cache_hit = True
                state.cost_usd = 0.0
        output = spec.output.dump(value)
        return value
    except BaseException as exc:
        error = exc
        raise
    finally:
        record = _record(
            spec, model=model, arguments=arguments, ctx=ctx, state=state, output=output, error=error, flow=flow,
            started_at=started_at, t0=t0,
        )  # fmt: skip
        if span is not None:  # first: it restores the caller's current span, whatever follows
            spans.end_infer(span, record, error)
        (record_sink or store().append)(record)


def _with_configured_prices(info: ModelInfo | None, model: str, cfg: Config) -> ModelInfo | None:
    """The client's word on ``model``, with the prices from ``configure(prices=...)`` winning."""
    price = cfg.prices.get(model)
    if price is None:
        return info
    base = info if info is not None else ModelInfo()
    return dataclasses.replace(base, input_usd_per_token=price[0], output_usd_per_token=price[1])


async def prompt_hash_of(
    spec: InferSpec, args: tuple[Any, ...], kwargs: Mapping[str, Any], refine_feedback: str | None = None
) -> str | None:
    """The ``compiled_prompt_hash`` a call would record now, or None if its prompt cannot be built."""
    cfg = get_config()
    model = spec.model or cfg.default_model
    try:
        arguments = spec.binding.arguments(args, kwargs)
        if not model:
            return None
        client = resolve_client(model)
        flow = scope.current()
        # The structured-output mode is part of the prompt and may need the client's model info.
        await warmup.ready(client, model, envelope=Envelope(None, spec.qualname), flow=flow)
        info = _with_configured_prices(client.model_info(model), model, cfg)
        mode = structured_mode(spec, cfg.structured_output, info)
        ctx = build_context(spec, arguments, model, mode=mode, flow=flow)
    except Exception:
        return None
    return (ctx.with_refine_feedback(refine_feedback) if refine_feedback else ctx).prompt_hash()


async def _attempts(
    spec: InferSpec,
    ctx: ContextObject,
    *,
    client: LLMClient,
    info: ModelInfo | None,
    model: str,
    envelope: Envelope,
    state: CallState,
    cfg: Config,
    first: list[dict[str, Any]] | None = None,
) -> Any:
    flow = scope.current()
    journal = flow.journal if flow is not None else None
    response_format = ctx.response_format
    history: list[AttemptRecord] = []
    attempt_ctx = ctx
    last_raw: str | None = None
    last_value: Any = None
    violations: list[Violation] = []
    debug = cfg.debug or os.environ.get("STRATUM_DEBUG") == "1"
    # The model read the opaque data, so anything it wrote may carry it: feedback then names, never quotes.
    quote = not ctx.opaque_inputs and not _declares_opaque(spec.output.model)
    for attempt in range(1, spec.retries + 2):
        envelope.check(spec.qualname)
        messages = first if attempt == 1 and first is not None else attempt_ctx.messages()
        if debug:
            debug_log(attempt_ctx, attempt)
        max_tokens, reserved = await _reserve(
            envelope, client, info=info, model=model, messages=messages, function=spec.qualname,
            ceiling=cfg.max_output_tokens,
        )  # fmt: skip
        state.attempts = attempt  # counts attempts actually sent
        noted = journal is not None and envelope.remaining_usd() is not None
        token: object = None
        if noted:
            assert journal is not None
            try:  # a durable flow under a cost budget: noted before it is sent, so a crash cannot hide its cost
                token = await journal.before_request(reserved)
            except BaseException:
                envelope.release(reserved)
                raise
        request = CompletionRequest(
            model=model,
            messages=messages,
            response_format=response_format,
            temperature=spec.temperature,
            max_tokens=max_tokens,
            function=spec.qualname,
        )
        try:
            response = await _send(client, request, envelope=envelope, state=state, cfg=cfg, function=spec.qualname)
        except BaseException:
            envelope.release(reserved)
            if noted:
                assert journal is not None
                await _settle(journal, token, None)
            raise
        envelope.release(reserved)
        cost = _cost(response, info, configured=model in cfg.prices)
        if cost:
            envelope.charge(cost)
        if noted:
            assert journal is not None
            await _settle(journal, token, cost or 0.0)
        state.add_usage(response, cost)
        state.impossible_usage = state.impossible_usage or _impossible(response, max_tokens)
        overspent = envelope.overspent(spec.qualname)
        if overspent is not None:  # found after the fact: the call fails instead of returning
            raise overspent
        last_raw = response.content
        violations, last_value = await _judge(
            spec, response, json_mode=response_format["type"] == "json_object", quote=quote
        )
        if not violations:
            return last_value
        prompt_hash = state.prompt_hash if attempt == 1 else attempt_ctx.prompt_hash()
        kept = last_raw[:_RAW_KEEP_CHARS] if last_raw else last_raw
        history.append(
            AttemptRecord(attempt=attempt, prompt_hash=prompt_hash or "", raw_output=kept, violations=tuple(violations))
        )
        if cfg.tracer is not None:  # without a tracer there are no spans to add the event to
            from .._observability import spans

            spans.attempt_failed(attempt, violations, prompt_hash or "")
        state.retry_reasons.append("; ".join(v.message for v in violations))
        attempt_ctx = attempt_ctx.with_feedback([v.message for v in violations])
    failure = ParseFailure if violations[0].kind == "parse" else PostconditionFailed
    raise failure(spec.qualname, violations, history, raw_output=last_raw, output=last_value)


async def _settle(journal: Any, token: object, cost: float | None) -> None:
    """Tell the journal what a request cost; a journal that cannot hear it settles on its own later."""
    try:
        await journal.after_request(token, cost)
    except Exception:  # the request's outcome stands; its hold is settled when its run finishes
        _log.warning("a durable journal could not settle a request's cost", exc_info=True)


async def _judge(
    spec: InferSpec, response: CompletionResponse, *, json_mode: bool, quote: bool
) -> tuple[list[Violation], Any]:
    """The violations of one response, and its value when it parsed.

    With ``quote`` False the messages (which the next attempt's instruction
    carries) show none of the model's text: fields by name, numbers as they
    are, strings by their type.
    """
    if response.refusal:
        said = f": {response.refusal[:500]}" if quote else " (its message is not shown: the call carries opaque data)"
        return [Violation(kind="parse", message=f"the model refused{said}")], None
    raw = response.content
    if not raw or not raw.strip():
        return [Violation(kind="parse", message="the model returned no content; a JSON object is required")], None
    if json_mode:
        raw = _strip_fence(raw)
    try:
        value = spec.output.parse(raw)
    except pydantic.ValidationError as exc:
        if quote:
            return _parse_violations(exc, wrapped=spec.output.wrapped), None
        return _parse_violations(exc, wrapped=spec.output.wrapped, unquoted=(raw, spec.output.schema)), None
    return await check_ensure(spec.ensure, value, quote=quote), value


_opaque_outputs: dict[type, bool] = {}


def _declares_opaque(model: type) -> bool:
    found = _opaque_outputs.get(model)
    if found is None:
        found = bool(opaque_paths(model))
        if len(_opaque_outputs) < 4096:  # bounded: one entry per contract
            _opaque_outputs[model] = found
    return found


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _strip_fence(raw: str) -> str:
    """JSON mode models sometimes wrap the object in a Markdown fence."""
    match = _FENCE.match(raw)
    return match.group(1) if match else raw


def _parse_violations(
    exc: pydantic.ValidationError, wrapped: bool, unquoted: tuple[str, Mapping[str, Any]] | None = None
) -> list[Violation]:
    """One violation per validation error (at most ``_MAX_PARSE_VIOLATIONS``).

    ``unquoted`` (the raw output and the contract's schema) asks for messages
    that quote none of the output: a location part that is not a field of
    the contract (a dict key, an extra field the model chose) is ``<key>``,
    the offending value is named by its type, and any output text that
    pydantic's own message repeats is cut out.
    """
    fields, texts = (_schema_fields(unquoted[1]), _output_texts(unquoted[0])) if unquoted else (None, [])
    out: list[Violation] = []
    for err in exc.errors(include_url=False)[:_MAX_PARSE_VIOLATIONS]:
        loc = [str(p) for p in err.get("loc", ())]
        if wrapped and loc[:1] == ["result"]:
            loc = loc[1:]
        if fields is not None:
            loc = [p if p in fields or p.isdigit() else "<key>" for p in loc]
        field = ".".join(loc) or None
        msg = str(err.get("msg"))
        for text in texts:
            msg = msg.replace(text, "<not shown>")
        if err.get("type") == "json_invalid":
            message = f"output is not valid JSON: {msg}"
        elif field:
            got = err.get("input")
            value = _short(got) if fields is None else opacity.shown(got)
            shown = "" if err.get("type") == "missing" else f" (got {value})"
            message = f"field `{field}`: {msg}{shown}"
        else:
            message = f"output: {msg}"
        out.append(Violation(kind="parse", message=message, field=field))
    return out


def _schema_fields(schema: Mapping[str, Any]) -> frozenset[str]:
    """Every property name declared anywhere in a contract's schema."""
    names: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            props = node.get("properties")
            if isinstance(props, Mapping):
                names.update(props)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(names)


def _output_texts(raw: str) -> list[str]:
    """The strings of a raw output (keys too), longest first, to cut out of pydantic's messages."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return []
    return sorted({t for t in opacity.strings(parsed, keys=True) if len(t) >= 3}, key=len, reverse=True)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


async def _send(
    client: LLMClient,
    request: CompletionRequest,
    *,
    envelope: Envelope,
    state: CallState,
    cfg: Config,
    function: str,
) -> CompletionResponse:
    """One request under the time budget, retrying transient provider errors."""
    import asyncio  # deferred: `import stratum` does not pay asyncio's import cost

    failures = 0
    while True:
        left = envelope.remaining_seconds()
        if left is not None and left <= 0:
            raise envelope.exceeded("time", function)
        deadline: asyncio.Timeout | None = None
        try:
            if left is None:  # no deadline: no timer to set and cancel on every request
                response: CompletionResponse = await client.complete(request)
            else:
                async with asyncio.timeout(left) as deadline:
                    response = await client.complete(request)
            return _checked(response, request)
        except TimeoutError:
            if deadline is not None and deadline.expired():
                raise envelope.exceeded("time", function, detail="the model did not answer in time") from None
            raise
        except TransientError as exc:
            if failures >= cfg.max_transient_retries:
                if exc.cause is not None:
                    raise exc.cause from None
                raise
            failures += 1
            state.transient_retries += 1
            wait = pause(
                failures, exc.retry_after, base_s=cfg.retry_backoff_base_s, cap_s=cfg.retry_backoff_max_s,
                left_s=envelope.remaining_seconds(),
            )  # fmt: skip
            if wait is None:  # the pause would outlast the time budget: stop now, not at the deadline
                asked = "" if exc.retry_after is None else f"the provider asked to wait {exc.retry_after:.2f}s; "
                raise envelope.exceeded(
                    "time", function, detail=f"{asked}no time left to retry ({exc})"
                ) from exc.cause
            await asyncio.sleep(wait)


def _checked(response: Any, request: CompletionRequest) -> CompletionResponse:
    """What a client returned, if it is a response the loop can read; else ``MalformedResponse``.

    Not retried: a client that returns the wrong type does so every time.
    """
    if not isinstance(response, CompletionResponse):
        reason = f"the client returned a {type(response).__name__}, not a CompletionResponse"
    elif response.content is not None and not isinstance(response.content, str):
        reason = f"the response content is a {type(response.content).__name__}, not text"
    elif response.refusal is not None and not isinstance(response.refusal, str):
        reason = f"the refusal is a {type(response.refusal).__name__}, not text"
    else:
        return response
    raise MalformedResponse(request.function, reason, model=request.model)


async def _reserve(
    envelope: Envelope,
    client: LLMClient,
    *,
    info: ModelInfo | None,
    model: str,
    messages: Any,
    function: str,
    ceiling: int | None,
) -> tuple[int | None, float]:
    """Cap ``max_tokens`` so this request's worst case fits the remaining USD.

    The worst case is reserved on the envelope until the response arrives, so
    concurrent calls sharing a budget cannot overshoot it together. A USD
    limit on a model without a price cannot be enforced: refused, before
    anything is sent.
    """
    remaining = envelope.remaining_usd()
    if remaining is None:
        return ceiling, 0.0
    if info is None or not info.priced:
        binding = envelope.cost_binding() or envelope
        raise StratumConfigError(
            f"{function}: model {model!r} has no known price, so the USD budget of {binding.name} cannot be "
            f"enforced; give its price with stratum.configure(prices={{{model!r}: (usd_per_input_token, "
            "usd_per_output_token)}), or drop the usd limit"
        )
    counted = await _count_tokens(client, model, messages, envelope, function)
    if counted is None:
        counted = sum(len(str(m.get("content", ""))) for m in messages) // 3
    prompt_tokens = math.ceil(counted * _PROMPT_MARGIN) + _PROMPT_MARGIN_TOKENS
    prompt_cost = prompt_tokens * (info.input_usd_per_token or 0.0)
    if prompt_cost >= remaining:
        binding = envelope.cost_binding() or envelope
        held = f"; ${binding.reserved_usd:.6g} is held by requests in flight" if binding.reserved_usd else ""
        raise envelope.exceeded(
            "cost",
            function,
            detail=f"the prompt alone (~{prompt_tokens} tokens) would cost ${prompt_cost:.6g}{held}",
        )
    out_price = info.output_usd_per_token or 0.0
    cap: int | None = None
    if out_price > 0:
        cap = math.floor((remaining - prompt_cost) / out_price)
        if cap < 1:
            raise envelope.exceeded("cost", function, detail="not enough left for a single output token")
        for limit in (info.max_output_tokens, ceiling):
            if limit:
                cap = min(cap, limit)
    worst = prompt_cost + (cap or 0) * out_price
    envelope.reserve(worst)
    return cap, worst


async def _count_tokens(
    client: LLMClient, model: str, messages: Any, envelope: Envelope, function: str
) -> int | None:
    """The client's count of the prompt's tokens; a long prompt is counted off the loop, within the deadline."""
    size = sum(len(str(m.get("content", ""))) for m in messages)
    if size <= _COUNT_OFF_LOOP_CHARS:
        return client.count_tokens(model, messages)
    import asyncio

    left = envelope.remaining_seconds()
    try:
        async with asyncio.timeout(left) as deadline:
            return await asyncio.to_thread(client.count_tokens, model, messages)
    except TimeoutError:
        if deadline.expired():
            raise envelope.exceeded("time", function, detail="counting the prompt's tokens") from None
        raise


def _cost(response: CompletionResponse, info: ModelInfo | None, configured: bool) -> float | None:
    # Prices the user configured win over what the client computed (a negotiated rate, a missing one).
    counted = response.input_tokens is not None and response.output_tokens is not None
    if configured and info is not None and counted:
        return response.input_tokens * info.input_usd_per_token + response.output_tokens * info.output_usd_per_token  # type: ignore[operator]
    if response.cost_usd is not None:
        return response.cost_usd
    if info is not None and info.priced and counted:
        return response.input_tokens * info.input_usd_per_token + response.output_tokens * info.output_usd_per_token  # type: ignore[operator]
    return None


def _impossible(response: CompletionResponse, max_tokens: int | None) -> bool:
    """Usage no honest provider reports: more output than the request allowed, or negative figures."""
    tokens = (response.input_tokens, response.output_tokens)
    if any(t is not None and t < 0 for t in tokens) or (response.cost_usd or 0.0) < 0:
        return True
    return max_tokens is not None and response.output_tokens is not None and response.output_tokens > max_tokens


def _record(
    spec: InferSpec,
    *,
    model: str | None,
    arguments: Mapping[str, Any],
    ctx: ContextObject | None,
    state: CallState,
    output: Any,
    error: BaseException | None,
    flow: scope.FlowScope | None,
    started_at: datetime,
    t0: float,
) -> TraceRecord:
    if ctx is not None:
        inputs = {**ctx.input_bindings, **ctx.opaque_inputs}
        hidden = tuple(ctx.opaque_inputs)
    else:
        inputs = {p.name: _safe_json(arguments[p.name], p.name) for p in spec.params}
        hidden = spec.opaque_params
    return TraceRecord(
        function=spec.qualname,
        model=model,
        inputs=inputs,
        opaque_inputs=hidden,
        compiled_prompt_hash=state.prompt_hash,
        contract_hash=spec.output.hash,
        attempts=state.attempts,
        output=output,
        duration_ms=(time.perf_counter() - t0) * 1000.0,
        cost_usd=state.cost_usd,
        input_tokens=state.input_tokens,
        output_tokens=state.output_tokens,
        cache_hit=state.cache_hit,
        retry_reasons=tuple(state.retry_reasons),
        flow_id=flow.flow_id if flow else None,
        review_id=state.review_id,
        error=None if error is None else ErrorInfo(type(error).__name__, str(error)[:2000]),
        started_at=started_at,
        transient_retries=state.transient_retries,
        response_model=state.response_model,
        temperature=spec.temperature,
        warmup_ms=state.warmup_ms,
        impossible_usage=state.impossible_usage,
    )


def _safe_json(value: Any, name: str) -> Any:
    try:
        return jsonable(value, name, {})
    except TypeError:
        return repr(value)[:200]


def run(coro: Any) -> Any:
    """Run a coroutine to completion from synchronous code.

    >>> import stratum
    >>> async def main() -> int:
    ...     return 42
    >>> stratum.run(main())
    42

    Inside a running event loop this raises ``RuntimeError`` instead of
    hanging: there, ``await`` the coroutine.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    if hasattr(coro, "close"):
        coro.close()  # never awaited; closing avoids a "never awaited" warning
    raise RuntimeError("stratum.run() was called inside a running event loop; use `await` there instead")
