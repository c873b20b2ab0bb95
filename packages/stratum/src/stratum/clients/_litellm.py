"""The default client: LiteLLM. The only module that imports ``litellm``.

``litellm`` is imported on first use, not at ``import stratum``, so a program
that never calls a model does not pay its start-up cost (about a second).
Stratum owns retries, so LiteLLM's and the OpenAI SDK's own are switched off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .._retry import retry_after
from ._protocol import CompletionRequest, CompletionResponse, ModelInfo, TransientError

__all__ = ["LiteLLMClient"]


def _litellm() -> Any:
    import litellm  # deferred on purpose: see the module docstring

    # LiteLLM prints a "Give Feedback" banner to stdout for every exception,
    # including the 429s and 5xx that Stratum retries and handles.
    litellm.suppress_debug_info = True
    return litellm


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
        return self._to_response(litellm, response, request.model)

    def _to_response(self, litellm: Any, response: Any, model: str) -> CompletionResponse:
        message = response.choices[0].message
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

    def model_info(self, model: str) -> ModelInfo | None:
        if model not in self._info:
            self._info[model] = self._lookup(model)
        return self._info[model]

    def _lookup(self, model: str) -> ModelInfo | None:
        litellm = _litellm()
        try:
            info = litellm.get_model_info(model)
        except Exception:  # LiteLLM raises for models missing from its map
            return None
        try:
            schema = bool(litellm.supports_response_schema(model=model))
        except Exception:
            schema = False
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
