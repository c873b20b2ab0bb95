"""The default client: LiteLLM. The only module that imports ``litellm``.

``litellm`` is imported on first use, not at ``import stratum``, so a program
that never calls a model does not pay its start-up cost (seconds). That first
use is ``warm(model)``, which the runtime runs once per model in a worker
thread before the first request (see ``stratum._core.warmup``): the import,
the price lookup, the tokenizer, and a rehearsal of LiteLLM's request path
with a mock response, so that the real first request does no set-up work on
the event loop. Stratum owns retries, so LiteLLM's and the OpenAI SDK's own
are switched off. Before that import, LiteLLM's per-host connection cap is
raised from 500 to ``CONNECTIONS_PER_HOST`` (unless the environment sets it).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .._json import canonical_json
from .._retry import retry_after
from ..exceptions import MalformedResponse
from ._identity import kept_settings
from ._protocol import CompletionRequest, CompletionResponse, ModelInfo, TransientError

__all__ = ["CONNECTIONS_PER_HOST", "LiteLLMClient", "loaded_model_cost"]


#: Connections LiteLLM may open to one host. Its own default (500, its aiohttp connector's
#: ``limit_per_host``) would hold the 501st of 1,000 concurrent calls until one of the first
#: 500 returned. LiteLLM reads the setting from the environment when it is imported, so it is
#: set (unless the user set it) before Stratum first imports LiteLLM; a program that imported
#: LiteLLM earlier keeps LiteLLM's own defaults (see docs/clients.md).
CONNECTIONS_PER_HOST = 1000

_REHEARSAL_MODEL = "openai/gpt-4o-mini"  # any model LiteLLM knows: the rehearsal sends nothing
_rehearsed: set[str] = set()  # providers whose request path has been rehearsed in this process
_rehearsal_lock = threading.Lock()


def _litellm() -> Any:
    if "litellm" not in sys.modules:
        total = os.environ.get("AIOHTTP_CONNECTOR_LIMIT", "")
        per_host = total if total.isdigit() and int(total) > 0 else str(CONNECTIONS_PER_HOST)
        os.environ.setdefault("AIOHTTP_CONNECTOR_LIMIT_PER_HOST", per_host)
    import litellm  # deferred on purpose: see the module docstring

    # LiteLLM prints a "Give Feedback" banner to stdout for every exception,
    # including the 429s and 5xx that Stratum retries and handles.
    litellm.suppress_debug_info = True
    return litellm


def loaded_model_cost() -> Mapping[str, Any] | None:
    """LiteLLM's live price map (``litellm.model_cost``) if LiteLLM is imported already; never imports it."""
    cost = getattr(sys.modules.get("litellm"), "model_cost", None)
    return cost if isinstance(cost, Mapping) else None


class LiteLLMClient:
    """Calls ``litellm.acompletion`` (or another object's ``acompletion``).

    Extra keyword arguments are passed to every request, e.g.
    ``LiteLLMClient(api_base="http://127.0.0.1:8000/v1", api_key="...")``.
    ``completion`` lets a ``litellm.Router`` (or anything with the same
    signature) stand in for the module function.
    """

    def __init__(self, completion: Callable[..., Awaitable[Any]] | None = None, **defaults: Any) -> None:
        self._completion = completion
        self._defaults = defaults
        self._info: dict[str, ModelInfo | None] = {}

    @classmethod
    def wrap(cls, target: Any) -> LiteLLMClient:
        """Build a client around the ``litellm`` module or a Router-like object."""
        return cls(completion=target.acompletion)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        litellm = _litellm()
        kwargs: dict[str, Any] = {
            **self._defaults,
            "model": request.model,
            "messages": list(request.messages),
            "response_format": dict(request.response_format),
            # Stratum retries with backoff inside the budget; nested retry
            # layers would multiply attempts and blow through time limits.
            "num_retries": 0,
            "max_retries": 0,
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        completion = self._completion or litellm.acompletion
        try:
            response = await completion(**kwargs)
        except _transient_types(litellm) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}", _retry_after(exc), exc) from exc
        except litellm.APIError as exc:
            if int(getattr(exc, "status_code", 0) or 0) >= 500:
                raise TransientError(f"{type(exc).__name__}: {exc}", _retry_after(exc), exc) from exc
            raise
        return self._to_response(litellm, response, request)

    def _to_response(self, litellm: Any, response: Any, request: CompletionRequest) -> CompletionResponse:
        model = request.model
        message = _message(response)
        if isinstance(message, str):  # what is wrong with the reply: retried like a 5xx, then reported
            error = MalformedResponse(request.function, message, model=model)
            raise TransientError(str(error), None, error)
        usage = getattr(response, "usage", None)
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost")
        if cost is None:
            try:
                cost = litellm.completion_cost(completion_response=response, model=model)
            except Exception:  # unknown price: the caller handles None
                cost = None
        return CompletionResponse(
            content=message.content,
            model=getattr(response, "model", None),
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
            cost_usd=float(cost) if cost is not None else None,
            refusal=getattr(message, "refusal", None),
        )

    def warm(self, model: str) -> None:
        """Do once, in the calling (worker) thread, what the first request for ``model`` would do on the loop."""
        litellm = _litellm()
        self.model_info(model)
        # Loads the model's tokenizer (tiktoken's files; for some models a Hugging Face download,
        # which LITELLM_OFFLINE_MODE=true skips): cost budgets count every prompt.
        self.count_tokens(model, [{"role": "user", "content": "warm-up"}])
        _rehearse(litellm, model)

    def cache_identity(self) -> str:
        """The endpoint and sampling defaults every request carries, for cache keys.

        Credentials and transport settings (keys, tokens, headers, timeouts)
        are left out: rotating an API key must not empty the cache.
        """
        target = "litellm.acompletion"
        if self._completion is not None:
            owner = getattr(self._completion, "__self__", None)
            name = getattr(self._completion, "__qualname__", type(self._completion).__qualname__)
            target = name if owner is None else f"{type(owner).__module__}.{type(owner).__qualname__}.{name}"
        kept = kept_settings(self._defaults)
        return canonical_json({"client": "litellm", "completion": target, "defaults": kept})

    def model_info(self, model: str) -> ModelInfo | None:
        if model not in self._info:
            self._info[model] = self._lookup(model)
        return self._info[model]

    def _lookup(self, model: str) -> ModelInfo:
        litellm = _litellm()
        try:
            schema = bool(litellm.supports_response_schema(model=model))
        except Exception:
            schema = False
        try:
            info = litellm.get_model_info(model)
        except Exception:  # missing from LiteLLM's map: no price, but its word on schemas still stands
            return ModelInfo(supports_json_schema=schema)
        return ModelInfo(
            input_usd_per_token=info.get("input_cost_per_token"),
            output_usd_per_token=info.get("output_cost_per_token"),
            max_output_tokens=info.get("max_output_tokens"),
            supports_json_schema=schema,
        )

    def count_tokens(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int | None:
        try:
            return int(_litellm().token_counter(model=model, messages=list(messages)))
        except Exception:
            return None


def _rehearse(litellm: Any, model: str) -> None:
    """Run LiteLLM's request path once with a mock response, in this (worker) thread.

    Its first request builds pydantic schemas and imports provider modules (a
    few hundred milliseconds of blocking work); rehearsed here, the real one
    does not. Nothing is sent. The synchronous ``completion`` is used: it walks
    the same path without starting an event loop, to which LiteLLM's logging
    worker would bind itself. Once per provider per process.
    """
    try:
        provider = str(litellm.get_llm_provider(model)[1])
    except Exception:
        provider, model = "openai", _REHEARSAL_MODEL  # an alias (a Router's): rehearse the common path
    with _rehearsal_lock:
        if provider in _rehearsed:
            return
        _rehearsed.add(provider)
    # A rehearsal that fails leaves the real first request a little slower, nothing more.
    with contextlib.suppress(Exception):
        litellm.completion(
            model=model, messages=[{"role": "user", "content": "warm-up"}], mock_response="{}",
            response_format={"type": "json_object"}, max_tokens=1, num_retries=0, max_retries=0,
        )  # fmt: skip


def _message(response: Any) -> Any:
    """The first choice's message, or a sentence saying why the reply has none.

    LiteLLM already refuses most broken bodies (with its InternalServerError);
    what it lets through is an empty ``choices`` list, or a choice whose
    message holds something other than text.
    """
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        return "the reply has no choices"
    message = getattr(choices[0], "message", None)
    if message is None:
        return "the first choice has no message"
    content = getattr(message, "content", None)
    if content is not None and not isinstance(content, str):
        return f"the message content is a {type(content).__name__}, not text"
    return message


def _transient_types(litellm: Any) -> tuple[type[BaseException], ...]:
    return (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
        litellm.APIConnectionError,
        litellm.Timeout,
    )


def _retry_after(exc: BaseException) -> float | None:
    """What the provider asked to wait, read from the headers LiteLLM kept (see ``stratum._retry``)."""
    # LiteLLM keeps the provider's headers in `litellm_response_headers`; the
    # `response` it attaches to errors is often a synthetic one without them.
    headers: Any = (
        getattr(exc, "litellm_response_headers", None)
        or getattr(exc, "headers", None)
        or getattr(getattr(exc, "response", None), "headers", None)
    )
    return retry_after(headers)
