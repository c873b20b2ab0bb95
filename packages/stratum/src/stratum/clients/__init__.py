"""LLM clients: the one I/O seam, and the LiteLLM default.

``LLMClient`` is what the runtime calls: ``async complete(request)``, plus
``model_info(model)`` and ``count_tokens(model, messages)``, which may answer
None. ``BaseClient`` answers None for you; ``configure(client=...)`` also takes
any object with just ``async complete(request)``, the ``litellm`` module, a
LiteLLM Router, or an ``openai.AsyncOpenAI`` / ``anthropic.AsyncAnthropic``
client (through ``OpenAIClient`` / ``AnthropicClient``). See ``docs/clients.md``::

    from stratum.clients import BaseClient, CompletionRequest, CompletionResponse

    class MyClient(BaseClient):
        async def complete(self, request: CompletionRequest) -> CompletionResponse: ...

``LiteLLMClient`` (the default) loads LiteLLM on first use, not with
``import stratum``; the SDK adapters load their SDK only when given one.
``OpenAICompatible`` is Stratum's own lean client for OpenAI-compatible
endpoints (``configure(client=OpenAICompatible(base_url=...))``, or a model
named ``openai-compatible/<model>``); it loads on first use too.
"""

import typing as _typing

from .._faces import lazy_exports as _lazy_exports
from ._protocol import BaseClient, CompletionRequest, CompletionResponse, LLMClient, ModelInfo, TransientError

if _typing.TYPE_CHECKING:
    from ._anthropic import AnthropicClient
    from ._litellm import LiteLLMClient
    from ._openai import OpenAIClient
    from ._openai_compatible import OpenAICompatible

# Loaded on first use: LiteLLM's import costs seconds, the SDKs' less but still some, and the
# direct client brings asyncio, ssl and its HTTP layer, which `import stratum` does not load.
_LAZY = {
    "AnthropicClient": "._anthropic",
    "LiteLLMClient": "._litellm",
    "OpenAIClient": "._openai",
    "OpenAICompatible": "._openai_compatible",
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)

__all__ = [
    "AnthropicClient",
    "BaseClient",
    "CompletionRequest",
    "CompletionResponse",
    "LLMClient",
    "LiteLLMClient",
    "ModelInfo",
    "OpenAIClient",
    "OpenAICompatible",
    "TransientError",
]
