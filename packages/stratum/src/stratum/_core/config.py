"""Process-wide defaults, set with ``configure()`` and reset with ``reset_defaults()``.

Decorator arguments always win over these. Tests should call
``reset_defaults()`` between cases (the project's own suite does so in an
autouse fixture).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._observability.records import store
from .._observability.spans import Tracer
from ..clients._protocol import LLMClient
from .journal import DurableRunner

if TYPE_CHECKING:
    # Named for their types only: the cache and review layers load on first use.
    from ..cache._stores import CacheStore
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
    #: Where ``@flow(durable=True)`` runs are journaled (``stratum.durable.dbos(...)``; None: nowhere).
    durable: DurableRunner | None = None


_config = Config()
_default_client: LLMClient | None = None


def get_config() -> Config:
    """The current defaults (a frozen ``Config``)."""
    return _config


def configure(
    *,
    client: Any = None,
    default_model: str | None = None,
    review_sink: ReviewSink | None = None,
    tracer: Tracer | None = None,
    test_mode: bool | None = None,
    sample_n: int | None = None,
    cache_store: CacheStore | None = None,
    max_transient_retries: int | None = None,
    retry_backoff_base_s: float | None = None,
    retry_backoff_max_s: float | None = None,
    max_output_tokens: int | None = None,
    trace_capacity: int | None = None,
    durable: DurableRunner | None = None,
) -> Config:
    """Set global defaults; arguments left as ``None`` keep their current value.

    ``client`` may be any object with ``async complete(request)`` (see
    ``docs/clients.md``), the ``litellm`` module itself, or a LiteLLM Router.
    ``durable`` is where durable flows are journaled, e.g.
    ``stratum.durable.dbos()`` (see ``docs/durable.md``).

    >>> import stratum
    >>> stratum.configure(default_model="openai/gpt-4o-mini")  # doctest: +ELLIPSIS
    Config(...)
    """
    global _config
    changes: dict[str, Any] = {}
    if client is not None:
        from ..clients._adapt import as_client

        changes["client"] = as_client(client)
    if sample_n is not None and (not isinstance(sample_n, int) or sample_n < 1):
        raise ValueError(f"sample_n must be a positive int, got {sample_n!r}")
    if max_transient_retries is not None and max_transient_retries < 0:
        raise ValueError("max_transient_retries must be >= 0")
    if max_output_tokens is not None and max_output_tokens < 1:
        raise ValueError("max_output_tokens must be >= 1")
    if trace_capacity is not None and trace_capacity < 1:
        raise ValueError("trace_capacity must be >= 1")
    if tracer is not None and not callable(getattr(tracer, "export", None)):
        raise ValueError(f"tracer must have export(span), e.g. stratum.exporters.otel(...); got {tracer!r}")
    if cache_store is not None and not all(callable(getattr(cache_store, m, None)) for m in ("get", "set", "delete")):
        raise ValueError(f"cache_store must have async get/set/delete (see stratum.cache); got {cache_store!r}")
    if durable is not None and not isinstance(durable, DurableRunner):
        raise ValueError(f"durable must be a durable backend, e.g. stratum.durable.dbos(); got {durable!r}")
    given = {
        "default_model": default_model,
        "review_sink": review_sink,
        "tracer": tracer,
        "test_mode": test_mode,
        "sample_n": sample_n,
        "cache_store": cache_store,
        "max_transient_retries": max_transient_retries,
        "retry_backoff_base_s": retry_backoff_base_s,
        "retry_backoff_max_s": retry_backoff_max_s,
        "max_output_tokens": max_output_tokens,
        "trace_capacity": trace_capacity,
        "durable": durable,
    }
    changes.update({k: v for k, v in given.items() if v is not None})
    _config = dataclasses.replace(_config, **changes)
    if trace_capacity is not None:
        store().resize(trace_capacity)
    return _config


def reset_defaults() -> None:
    """Restore every default (the trace store keeps its records; see ``trace.clear``)."""
    global _config
    _config = Config()
    store().resize(_config.trace_capacity)


def resolve_client() -> LLMClient:
    """The configured client, or the LiteLLM default (built once, lazily)."""
    global _default_client
    if _config.client is not None:
        return _config.client
    if _default_client is None:
        from ..clients._litellm import LiteLLMClient  # the only module importing litellm

        _default_client = LiteLLMClient()
    return _default_client
