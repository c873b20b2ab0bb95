"""A direct client over the Anthropic SDK: ``configure(client=anthropic.AsyncAnthropic(...))``.

The Messages API has no ``response_format``: under strict structured output the
contract travels as the input schema of one tool the model is made to call
(``tool_choice``), and the tool call's input is the answer. In JSON mode the
contract is in the system prompt and the answer is the text. The system
message goes in ``system``; ``max_tokens``, which the API requires, defaults
to ``max_tokens=`` of this client when no budget caps it; a temperature above
1 (the API's maximum) is sent as 1.

Loaded only when such a client is given (it imports the ``anthropic`` SDK).
The SDK's own retries are switched off (Stratum retries inside the budget,
overloaded 529s included). It knows no prices: a ``usd`` budget needs
``configure(prices=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import anthropic

from .._json import canonical_json
from .._retry import retry_after
from ._protocol import CompletionRequest, CompletionResponse, ModelInfo, TransientError

__all__ = ["AnthropicClient"]

_TOOL_DESCRIPTION = "Give the result. Its input is the typed function's output, conforming to the contract."


class AnthropicClient:
    """Calls ``messages.create`` on an ``anthropic.AsyncAnthropic`` client.

    >>> # stratum.configure(client=anthropic.AsyncAnthropic(), default_model="claude-sonnet-4-5")
    >>> # stratum.configure(client=AnthropicClient(anthropic.AsyncAnthropic(), max_tokens=8192))
    """

    __module__ = "stratum.clients"

    def __init__(self, sdk: Any, *, max_tokens: int = 4096) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
        self.sdk = sdk.with_options(max_retries=0)
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"AnthropicClient({self.sdk.base_url!s})"

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        system = [str(m["content"]) for m in request.messages if m["role"] == "system"]
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [dict(m) for m in request.messages if m["role"] != "system"],
            "max_tokens": request.max_tokens or self.max_tokens,
        }
        if system:
            kwargs["system"] = "\n\n".join(system)
        if request.temperature is not None:
            kwargs["temperature"] = min(request.temperature, 1.0)  # the API's range is [0, 1]
        tool = _tool(request.response_format)
        if tool is not None:
            kwargs["tools"] = [tool]
            kwargs["tool_choice"] = {"type": "tool", "name": tool["name"]}
        try:
            message = await self.sdk.messages.create(**kwargs)
        except (anthropic.APIConnectionError, anthropic.RateLimitError) as exc:  # APITimeoutError is a connection error
            raise TransientError(f"{type(exc).__name__}: {exc}", _retry_after(exc), exc) from exc
        except anthropic.APIStatusError as exc:
            if exc.status_code >= 500:  # 529: overloaded
                raise TransientError(f"{type(exc).__name__}: {exc}", _retry_after(exc), exc) from exc
            raise
        return _response(message)

    def cache_identity(self) -> str:
        """The endpoint every request goes to, for cache keys (credentials left out)."""
        return canonical_json({"client": "anthropic", "base_url": str(self.sdk.base_url)})

    def model_info(self, model: str) -> ModelInfo | None:
        return ModelInfo(supports_json_schema=True)  # through a forced tool call

    def count_tokens(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int | None:
        return None  # estimated from the prompt's length


def _tool(response_format: Mapping[str, Any]) -> dict[str, Any] | None:
    if response_format.get("type") != "json_schema":
        return None
    spec = response_format["json_schema"]
    return {"name": spec["name"], "description": _TOOL_DESCRIPTION, "input_schema": spec["schema"]}


def _response(message: Any) -> CompletionResponse:
    content: str | None = None
    texts: list[str] = []
    for block in message.content:
        if block.type == "tool_use":
            content = json.dumps(block.input, ensure_ascii=False)
            break
        if block.type == "text":
            texts.append(block.text)
    if content is None:
        content = "".join(texts) or None
    usage = message.usage
    refused = message.stop_reason == "refusal"
    return CompletionResponse(
        content=None if refused else content,
        model=message.model,
        input_tokens=getattr(usage, "input_tokens", None),
        output_tokens=getattr(usage, "output_tokens", None),
        refusal=(content or "the model refused") if refused else None,
    )


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    return retry_after(getattr(response, "headers", None))
