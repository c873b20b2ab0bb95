"""LLM clients: the one I/O seam, and the LiteLLM default.

A client is any object with ``async complete(request) -> CompletionResponse``
(``LLMClient``); ``configure(client=...)`` takes one, the ``litellm`` module,
or a LiteLLM Router. See ``docs/clients.md``::

    from stratum.clients import CompletionRequest, CompletionResponse

    class MyClient:
        async def complete(self, request: CompletionRequest) -> CompletionResponse: ...

``LiteLLMClient`` (the default) loads LiteLLM on first use, not with
``import stratum``.
"""

import typing as _typing

from ._protocol import CompletionRequest, CompletionResponse, LLMClient, ModelInfo, TransientError

if _typing.TYPE_CHECKING:
    from ._litellm import LiteLLMClient

# Loaded on first use: LiteLLM's import costs about a second.
_LAZY = {"LiteLLMClient": "._litellm"}


def __getattr__(name: str) -> object:
    path = _LAZY.get(name)
    if path is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(path, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return list(__all__)


__all__ = [
    "CompletionRequest",
    "CompletionResponse",
    "LLMClient",
    "LiteLLMClient",
    "ModelInfo",
    "TransientError",
]
