"""What ``configure(client=...)`` accepts, turned into a full ``LLMClient``.

Provider SDK clients are recognised by the package their class comes from, so
neither SDK is imported to find out; the adapter for one is loaded only when
such a client is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..exceptions import StratumConfigError
from ._protocol import BaseClient, CompletionRequest, CompletionResponse, LLMClient, ModelInfo

__all__ = ["as_client"]


def as_client(value: Any) -> LLMClient:
    """Turn what a user passed to ``configure(client=...)`` into a client.

    Accepts a client (anything with ``async complete``; one without
    ``model_info`` or ``count_tokens`` is given the ``BaseClient`` answers), the
    ``litellm`` module itself, a LiteLLM ``Router``-like object (anything with
    ``acompletion``), or an ``openai.AsyncOpenAI`` / ``anthropic.AsyncAnthropic``
    client. The checks happen here, once, so the runtime calls the client's
    methods without probing it on every call.
    """
    sdk = _sdk_of(value)
    if sdk is not None:
        return _adapt_sdk(value, sdk)
    if callable(getattr(value, "complete", None)):
        if callable(getattr(value, "model_info", None)) and callable(getattr(value, "count_tokens", None)):
            return value  # type: ignore[no-any-return]
        return _Completing(value)
    if callable(getattr(value, "acompletion", None)):
        from ._litellm import LiteLLMClient

        return LiteLLMClient.wrap(value)
    raise StratumConfigError(
        f"configure(client=...): {value!r} is not a client; pass an object with "
        "`async complete(request)`, the litellm module, a litellm Router, or an "
        "openai.AsyncOpenAI / anthropic.AsyncAnthropic client"
    )


def _sdk_of(value: Any) -> str | None:
    """``"openai"`` or ``"anthropic"`` when ``value`` is one of those SDKs' clients."""
    if isinstance(value, type):
        return None
    for cls in type(value).__mro__:
        root = cls.__module__.split(".")[0]
        if root in ("openai", "anthropic") and ("OpenAI" in cls.__name__ or "Anthropic" in cls.__name__):
            return root
    return None


def _adapt_sdk(value: Any, sdk: str) -> LLMClient:
    if sdk == "openai":
        if not callable(getattr(getattr(getattr(value, "chat", None), "completions", None), "create", None)):
            raise StratumConfigError(f"configure(client=...): {value!r} has no chat.completions.create")
        if not type(value).__name__.startswith("Async"):
            raise StratumConfigError(
                f"configure(client=...): {type(value).__name__} is synchronous; stratum's calls are awaited, "
                "so pass openai.AsyncOpenAI (or AsyncAzureOpenAI) instead"
            )
        from ._openai import OpenAIClient

        return OpenAIClient(value)
    if not type(value).__name__.startswith("Async"):
        raise StratumConfigError(
            f"configure(client=...): {type(value).__name__} is synchronous; stratum's calls are awaited, "
            "so pass anthropic.AsyncAnthropic instead"
        )
    from ._anthropic import AnthropicClient

    return AnthropicClient(value)


class _Completing(BaseClient):
    """A client that has ``complete`` and maybe one of the other two: ``BaseClient`` answers the rest."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        if callable(getattr(inner, "warm", None)):
            self.warm = inner.warm  # the one-time warm-up is the inner client's (stratum._core.warmup)
        own_info, own_count = getattr(inner, "model_info", None), getattr(inner, "count_tokens", None)
        self._info: Callable[[str], ModelInfo | None] | None = own_info if callable(own_info) else None
        self._count: Callable[[str, Sequence[Mapping[str, Any]]], int | None] | None = (
            own_count if callable(own_count) else None
        )

    def __repr__(self) -> str:
        return repr(self.inner)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        response: CompletionResponse = await self.inner.complete(request)
        return response

    def model_info(self, model: str) -> ModelInfo | None:
        return None if self._info is None else self._info(model)

    def count_tokens(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int | None:
        return None if self._count is None else self._count(model, messages)

    def cache_identity(self) -> str:
        own = getattr(self.inner, "cache_identity", None)
        if callable(own):
            return str(own())
        cls = type(self.inner)
        return f"{cls.__module__}.{cls.__qualname__}"
