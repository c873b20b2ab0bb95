"""LLM clients: the one I/O seam, and the LiteLLM default.

``LLMClient`` is what the runtime calls: ``async complete(request)``, plus
``model_info(model)`` and ``count_tokens(model, messages)``, which may answer
None. ``BaseClient`` answers None for you; ``configure(client=...)`` also takes
any object with just ``async complete(request)``, the ``litellm`` module, or a
LiteLLM Router. See ``docs/clients.md``::

    from stratum.clients import BaseClient, CompletionRequest, CompletionResponse

    class MyClient(BaseClient):
        async def complete(self, request: CompletionRequest) -> CompletionResponse: ...

``LiteLLMClient`` (the default) loads LiteLLM on first use, not with
``import stratum``. ``OpenAICompatible`` is Stratum's own lean client for
OpenAI-compatible endpoints (``configure(client=OpenAICompatible(base_url=...))``,
or a model named ``openai-compatible/<model>``); it loads on first use too.
"""

import typing as _typing

from ._protocol import BaseClient, CompletionRequest, CompletionResponse, LLMClient, ModelInfo, TransientError

if _typing.TYPE_CHECKING:
    from ._litellm import LiteLLMClient
    from ._openai_compatible import OpenAICompatible

# Loaded on first use: LiteLLM's import costs about a second, and the direct
# client brings asyncio, ssl and the HTTP layer, which `import stratum` does not load.
_LAZY = {"LiteLLMClient": "._litellm", "OpenAICompatible": "._openai_compatible"}


def __getattr__(name: str) -> object:
    path = _LAZY.get(name)
    if path is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(path, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    # The exports, loaded or not, and the module's dunders (__file__, __version__...); never the private rest.
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


__all__ = [
    "BaseClient",
    "CompletionRequest",
    "CompletionResponse",
    "LLMClient",
    "LiteLLMClient",
    "ModelInfo",
    "OpenAICompatible",
    "TransientError",
]
