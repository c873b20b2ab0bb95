"""Process-wide defaults, set with ``configure()`` and reset with ``reset_defaults()``.

Decorator arguments always win over these. Tests should call
``reset_defaults()`` between cases (the project's own suite does so in an
autouse fixture).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._observability.records import store
from .._observability.spans import Tracer
from .._once import reset_all
from ..clients._protocol import LLMClient
from ..exceptions import StratumConfigError
from . import opacity

if TYPE_CHECKING:
    # Named for their types only: the cache and review layers load on first use.
    from ..cache._stores import CacheStore
    from ..clients._openai_compatible import OpenAICompatible
    from ..hitl._review import ReviewSink

__all__ = ["Config", "configure", "get_config", "reset_defaults", "resolve_client"]


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
) -> Config:
    """Change the process-wide defaults and return the new ``Config``.

    An argument left out keeps its current value; one passed as ``None``
    goes back to its default (``configure(tracer=None)`` stops tracing,
    ``configure(sample_n=None)`` is 5 again). A bad value raises
    ``StratumConfigError`` naming the option, and then nothing is changed.

    ``client`` may be any object with ``async complete(request)`` (see
    ``docs/clients.md``), the ``litellm`` module itself, or a LiteLLM Router.

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
}


def reset_defaults() -> None:
    """Restore every default (the trace store keeps its records; see ``trace.clear``).

    It also forgets which warnings were given once (an unpriced model, a
    failing cache store, an unsampled stable function, the gRPC port) and
    the texts seen as opaque data so far (``opaque[T]`` is tracked by
    content), so that each test starts as a fresh process would.
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
