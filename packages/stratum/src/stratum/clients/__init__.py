"""LLM clients: the protocol the runtime calls, and the LiteLLM default."""

from __future__ import annotations

from typing import Any

from ..exceptions import StratumConfigError
from .base import CompletionRequest, CompletionResponse, LLMClient, ModelInfo, TransientError

__all__ = [
    "CompletionRequest",
    "CompletionResponse",
    "LLMClient",
    "LiteLLMClient",
    "ModelInfo",
    "TransientError",
    "as_client",
]


def as_client(value: Any) -> Any:
    """Turn what a user passed to ``configure(client=...)`` into a client.

    Accepts a client (anything with ``async complete``), the ``litellm`` module
    itself, or a LiteLLM ``Router``-like object (anything with ``acompletion``).
    """
    if callable(getattr(value, "complete", None)):
        return value
    if callable(getattr(value, "acompletion", None)):
        from .litellm_client import LiteLLMClient

        return LiteLLMClient.wrap(value)
    raise StratumConfigError(
        f"configure(client=...): {value!r} is not a client; pass an object with "
        "`async complete(request)`, the litellm module, or a litellm Router"
    )


def __getattr__(name: str) -> Any:
    if name == "LiteLLMClient":  # its module is loaded on first use, not at `import stratum`
        from .litellm_client import LiteLLMClient

        return LiteLLMClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
