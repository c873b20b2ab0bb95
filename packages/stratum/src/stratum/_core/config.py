"""Process-wide defaults, set with ``configure()`` and reset with ``reset_defaults()``.

Decorator arguments always win over these. Tests should call
``reset_defaults()`` between cases (the project's own suite does so in an
autouse fixture).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._observability.records import store
from .._once import reset_all
from ..clients._protocol import LLMClient
from ..exceptions import StratumConfigError
from . import opacity
from .journal import DurableRunner
from .spec import STRUCTURED_OUTPUTS, StructuredOutput

if TYPE_CHECKING:
    # Named for their types only: the cache and review layers load on first use.
    from .._observability.spans import Tracer
    from ..cache._stores import CacheStore
    from ..clients._openai_compatible import OpenAICompatible
    from ..hitl._review import ReviewSink

__all__ = ["Config", "configure", "get_config", "reset_defaults", "resolve_client", "warmup"]


@dataclass(frozen=True, slots=True)
class Config:
    """The process-wide defaults (``stratum.get_config()``); change them with ``configure()``."""

    #: What @infer calls send requests through (None: LiteLLM, built on first use).
    client: LLMClient | None = None
    #: The model of an @infer function that names none.
    default_model: str | None = None
    #: Where ``await_human`` sends reviews (None: the console).
    review_sink: ReviewSink | None = None
    #: Where finished spans go (None: no spans are built).
    tracer: Tracer | None = None
    #: Sample ``stable=False`` functions ``sample_n`` times and warn about unsampled ``stable=True`` ones.
    test_mode: bool = False
    sample_n: int = 5
    #: The store of ``cache="global"`` (None: SQLite under ``$STRATUM_CACHE_DIR``).
    cache_store: CacheStore | None = None
    #: The longest one cache read or write may take; under a time budget, also
    #: never more than a quarter of what is left. A store that cannot answer
    #: in time is a miss (or a skipped write), never a stall.
    cache_timeout_s: float = 1.0
    #: Retries of transient provider errors (429, 5xx, dropped connection),
    #: counted apart from a function's ``retries``.
    max_transient_retries: int = 4
    #: Backoff for transient errors: full jitter over base * 2**n, capped.
    retry_backoff_base_s: float = 0.5
    retry_backoff_max_s: float = 8.0
    #: Upper bound on output tokens per request (None: the model's own limit).
    #: Under a cost budget each in-flight request reserves its worst case, so
    #: a lower bound lets more concurrent calls share one envelope.
    max_output_tokens: int | None = None
    #: Most records the in-memory trace store keeps (oldest dropped first).
    trace_capacity: int = 10_000
    #: USD per input token and per output token, by model name as @infer names it. They win over
    #: the client's own prices, enforce ``usd`` budgets and price trace records.
    prices: Mapping[str, tuple[float, float]] = field(default_factory=lambda: MappingProxyType({}))
    #: How requests ask for JSON: ``auto`` follows the client (LiteLLM's ``supports_response_schema``).
    structured_output: StructuredOutput = "auto"
    #: Dump each attempt's context object as JSON on the ``stratum.compiler`` logger (also ``STRATUM_DEBUG=1``).
    debug: bool = False
    #: Where ``@flow(durable=True)`` runs are journaled (``stratum.durable.dbos(...)``; None: nowhere).
    durable: DurableRunner | None = None


_config = Config()
_default_client: LLMClient | None = None
_prefixed_client: OpenAICompatible | None = None  # for `openai-compatible/<model>` names, from the environment


def get_config() -> Config:
    """The current defaults (a frozen ``Config``)."""
    return _config


class _Keep(enum.Enum):
    """The default of every ``configure()`` argument: "not given, keep the current value"."""

    KEEP = "keep"

    def __repr__(self) -> str:
        return "<keep>"


_KEEP = _Keep.KEEP


def configure(
    *,
    client: Any = _KEEP,
    default_model: str | _Keep | None = _KEEP,
    review_sink: ReviewSink | _Keep | None = _KEEP,
    tracer: Tracer | _Keep | None = _KEEP,
    test_mode: bool | _Keep | None = _KEEP,
    sample_n: int | _Keep | None = _KEEP,
    cache_store: CacheStore | _Keep | None = _KEEP,
    cache_timeout_s: float | _Keep | None = _KEEP,
    max_transient_retries: int | _Keep | None = _KEEP,
    retry_backoff_base_s: float | _Keep | None = _KEEP,
    retry_backoff_max_s: float | _Keep | None = _KEEP,
    max_output_tokens: int | _Keep | None = _KEEP,
    trace_capacity: int | _Keep | None = _KEEP,
    prices: Mapping[str, tuple[float, float]] | _Keep | None = _KEEP,
    structured_output: StructuredOutput | _Keep | None = _KEEP,
    debug: bool | _Keep | None = _KEEP,
    durable: DurableRunner | _Keep | None = _KEEP,
    warm: bool = False,
) -> Config:
    """Change the process-wide defaults and return the new ``Config``.

    An argument left out keeps its current value; one passed as ``None``
    goes back to its default (``configure(tracer=None)`` stops tracing,
    ``configure(sample_n=None)`` is 5 again). A bad value raises
    ``StratumConfigError`` naming the option, and then nothing is changed.

    ``client`` may be any object with ``async complete(request)`` (see
    ``docs/clients.md``), the ``litellm`` module itself, a LiteLLM Router, or
    an ``openai.AsyncOpenAI`` / ``anthropic.AsyncAnthropic`` client.
    ``prices`` replaces the table of ``{model: (usd_per_input_token,
    usd_per_output_token)}``. ``warm=True`` starts the one-time warm-up of the
    client for ``default_model`` in the background (see ``stratum.warmup``).
    ``durable`` is where durable flows are journaled, e.g.
    ``stratum.durable.dbos()`` (see ``docs/durable.md``).

    >>> import stratum
    >>> stratum.configure(default_model="openai/gpt-4o-mini")  # doctest: +ELLIPSIS
    Config(...)
    >>> stratum.configure(default_model=None).default_model is None
    True
    """
    global _config
    given = {
        "client": client,
        "default_model": default_model,
        "review_sink": review_sink,
        "tracer": tracer,
        "test_mode": test_mode,
        "sample_n": sample_n,
        "cache_store": cache_store,
        "cache_timeout_s": cache_timeout_s,
        "max_transient_retries": max_transient_retries,
        "retry_backoff_base_s": retry_backoff_base_s,
        "retry_backoff_max_s": retry_backoff_max_s,
        "max_output_tokens": max_output_tokens,
        "trace_capacity": trace_capacity,
        "prices": prices,
        "structured_output": structured_output,
        "debug": debug,
        "durable": durable,
    }
    defaults = Config()
    changes: dict[str, Any] = {}
    for name, value in given.items():
        if value is _KEEP:
            continue
        changes[name] = getattr(defaults, name) if value is None else _CHECKS[name](name, value)
    _config = dataclasses.replace(_config, **changes)
    if "trace_capacity" in changes:
        store().resize(_config.trace_capacity)
    if warm is True and _config.default_model:
        from .warmup import start_warming  # threads: loaded only when asked for

        start_warming(resolve_client(_config.default_model), _config.default_model)
    return _config


# -- the checks, one per option: the value to store, or StratumConfigError ---------------
def _client(name: str, value: Any) -> LLMClient:
    from ..clients._adapt import as_client

    return as_client(value)  # raises StratumConfigError for what is not a client


def _has(*methods: str, hint: str) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if not all(callable(getattr(value, m, None)) for m in methods):
            raise StratumConfigError(f"configure({name}=...): {hint}; got {value!r}")
        return value

    return check


def _model(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StratumConfigError(f"configure({name}=...): a model name (a non-empty string) or None; got {value!r}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise StratumConfigError(f"configure({name}=...): True, False or None; got {value!r}")
    return value


def _count(minimum: int) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise StratumConfigError(f"configure({name}=...): an int >= {minimum} or None; got {value!r}")
        return value

    return check


def _seconds(*, zero: bool) -> Callable[[str, Any], float]:
    def check(name: str, value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < 0 or (value == 0 and not zero):
            bound = ">= 0" if zero else "> 0"
            raise StratumConfigError(
                f"configure({name}=...): a finite number of seconds {bound} or None; got {value!r}"
            )
        return float(value)

    return check


def _choice(*options: str) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value not in options:
            listed = ", ".join(map(repr, options))
            raise StratumConfigError(f"configure({name}=...): one of {listed} or None; got {value!r}")
        return value

    return check


def _prices(name: str, value: Any) -> Mapping[str, tuple[float, float]]:
    if not isinstance(value, Mapping):
        raise StratumConfigError(
            f"configure({name}=...): a mapping of model names to (usd_per_input_token, usd_per_output_token); "
            f"got {value!r}"
        )
    checked: dict[str, tuple[float, float]] = {}
    for model, pair in value.items():
        if not isinstance(model, str) or not model:
            raise StratumConfigError(f"configure({name}=...): a model name must be a non-empty str; got {model!r}")
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2) or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and p >= 0 for p in pair
        ):
            raise StratumConfigError(
                f"configure({name}=...): the price of {model!r} must be (usd_per_input_token, "
                f"usd_per_output_token), two numbers >= 0; got {pair!r}"
            )
        checked[model] = (float(pair[0]), float(pair[1]))
    return MappingProxyType(checked)


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "client": _client,
    "default_model": _model,
    "review_sink": _has("emit", hint="a review sink has emit(review), e.g. stratum.hitl.QueueReviewSink()"),
    "tracer": _has("export", hint="a tracer has export(span), e.g. stratum.exporters.otel(...)"),
    "test_mode": _flag,
    "sample_n": _count(1),
    "cache_store": _has("get", "set", "delete", hint="a cache store has async get/set/delete (see stratum.cache)"),
    "cache_timeout_s": _seconds(zero=False),
    "max_transient_retries": _count(0),
    "retry_backoff_base_s": _seconds(zero=True),
    "retry_backoff_max_s": _seconds(zero=True),
    "max_output_tokens": _count(1),
    "trace_capacity": _count(1),
    "prices": _prices,
    "structured_output": _choice(*STRUCTURED_OUTPUTS),
    "debug": _flag,
    "durable": _has("run_flow", hint="a durable backend runs flows, e.g. stratum.durable.dbos()"),
}


def reset_defaults() -> None:
    """Restore every default (the trace store keeps its records; see ``trace.clear``).

    It also forgets which warnings were given once (a failing cache store,
    an unsampled stable function) and the texts seen as opaque data so far
    (``opaque[T]`` is tracked by content), so that each test starts as a
    fresh process would.
    """
    global _config, _prefixed_client
    _config = Config()
    if _prefixed_client is not None:  # built again from the environment as it is then
        from ..clients._openai_compatible import drop

        drop(_prefixed_client)
        _prefixed_client = None
    store().resize(_config.trace_capacity)
    opacity.forget()
    reset_all()  # every warn-once memory: a test expecting a warning gets it


def resolve_client(model: str | None = None) -> LLMClient:
    """The configured client; else, for ``model``, the default: LiteLLM (built once, lazily).

    A model named ``openai-compatible/<model>`` goes to Stratum's own
    ``OpenAICompatible`` client instead, at the endpoint the environment
    names (``STRATUM_OPENAI_COMPATIBLE_BASE_URL``).
    """
    global _default_client, _prefixed_client
    if _config.client is not None:
        return _config.client
    if model is not None and model.startswith("openai-compatible/"):
        if _prefixed_client is None:
            from ..clients._openai_compatible import from_environment

            _prefixed_client = from_environment()
        return _prefixed_client
    if _default_client is None:
        from ..clients._litellm import LiteLLMClient  # the only module importing litellm

        _default_client = LiteLLMClient()
    return _default_client


def warmup(*models: str, timeout_s: float | None = None) -> None:
    """Warm the configured client up for ``models`` (default: ``default_model``) now, blocking.

    What the first call would otherwise wait for (for LiteLLM: its import,
    the price lookup, the tokenizer, a rehearsal of its request path that
    sends nothing) is done here. Calls never pay for it in their budgets
    either way, but they do wait for it; a server calls this at start-up
    (inside a running event loop: ``await asyncio.to_thread(stratum.warmup)``),
    or passes ``configure(..., warm=True)`` to start it in the background. A
    client without ``warm(model)`` (a scripted one, a direct SDK client) has
    nothing to do. ``TimeoutError`` if it takes longer than ``timeout_s``.

    >>> import stratum
    >>> stratum.configure(client=stratum.testing.ScriptedClient(), default_model="test-model")  # doctest: +ELLIPSIS
    Config(...)
    >>> stratum.warmup()
    """
    from .warmup import wait_warm  # threads: loaded when asked for

    names = models or tuple(m for m in (_config.default_model,) if m)
    if not names:
        raise StratumConfigError("stratum.warmup(): name the models, or configure(default_model=...) first")
    import time

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    for name in names:  # each model's own client: openai-compatible/ names have theirs
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        wait_warm(resolve_client(name), (name,), left)
