"""A direct client over the OpenAI SDK: ``configure(client=openai.AsyncOpenAI(...))``.

For single-provider deployments that want no LiteLLM in the request path. Any
OpenAI-compatible endpoint works (``base_url=``: vLLM, llama.cpp, OpenRouter,
Azure through ``AsyncAzureOpenAI``). Loaded only when such a client is given:
this module imports the ``openai`` SDK, which the caller already has.

The SDK's own retries are switched off (Stratum retries inside the budget). It
knows no prices: a ``usd`` budget needs ``configure(prices=...)``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import openai

from .._json import canonical_json
from .._retry import retry_after
from ._protocol import CompletionRequest, CompletionResponse, ModelInfo, TransientError

__all__ = ["OpenAIClient"]


class OpenAIClient:
    """Calls ``chat.completions.create`` on an ``openai.AsyncOpenAI`` client.

    >>> # stratum.configure(client=openai.AsyncOpenAI(), default_model="gpt-4o-mini")
    >>> # stratum.configure(client=OpenAIClient(openai.AsyncOpenAI(base_url="http://vllm:8000/v1")))
    """

    __module__ = "stratum.clients"

    def __init__(self, sdk: Any, *, supports_json_schema: bool = True) -> None:
        self.sdk = sdk.with_options(max_retries=0)
        self._schema = supports_json_schema
        # OpenAI's own API wants max_completion_tokens (its reasoning models refuse max_tokens);
        # compatible servers mostly know only max_tokens.
        host = urllib.parse.urlsplit(str(getattr(sdk, "base_url", ""))).hostname or ""
        self._max_key = "max_completion_tokens" if host.endswith("openai.com") else "max_tokens"

    def __repr__(self) -> str:
        return f"OpenAIClient({self.sdk.base_url!s})"

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": list(request.messages),
            "response_format": dict(request.response_format),
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.max_tokens is not None:
            kwargs[self._max_key] = request.max_tokens
        try:
            response = await self.sdk.chat.completions.create(**kwargs)
        except (openai.APIConnectionError, openai.RateLimitError) as exc:  # APITimeoutError is a connection error
            raise TransientError(f"{type(exc).__name__}: {exc}", _retry_after(exc), exc) from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise TransientError(f"{type(exc).__name__}: {exc}", _retry_after(exc), exc) from exc
            raise
        message = response.choices[0].message
        usage = response.usage
        return CompletionResponse(
            content=message.content,
            model=response.model,
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
            refusal=getattr(message, "refusal", None),
        )

    def cache_identity(self) -> str:
        """The endpoint every request goes to, for cache keys (credentials left out)."""
        return canonical_json({"client": "openai", "base_url": str(self.sdk.base_url)})

    def model_info(self, model: str) -> ModelInfo | None:
        return ModelInfo(supports_json_schema=self._schema)

    def count_tokens(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int | None:
        return None  # estimated from the prompt's length


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    return retry_after(getattr(response, "headers", None))
