"""The one I/O seam: what the runtime asks of an LLM client (``LLMClient``).

``complete(request) -> CompletionResponse`` sends one request. Two more
methods let the runtime enforce cost budgets before sending and pick the
structured-output mode; a client that does not know may answer None:

- ``model_info(model) -> ModelInfo | None``: prices and capabilities;
- ``count_tokens(model, messages) -> int | None``: prompt size.

One more is optional: ``cache_identity() -> str``, what about the client
(beyond the request itself) can change an answer, such as its endpoint and
sampling defaults; it is part of every cache key. Without it the client's
class stands for it.

``BaseClient`` answers None to both, so a client only writes ``complete``;
``configure(client=...)`` also accepts any object with just ``async
complete(request)`` and supplies the two answers itself.

A client may also have ``warm(model) -> None``: the blocking, one-time work
its first request for ``model`` would otherwise do (imports, tokenizers,
schema building). The runtime runs it once per model in a worker thread,
before the first request, with the call's budget clock stopped
(``LiteLLMClient`` has one; ``stratum.warmup()`` runs it ahead of time).

A client signals a failure worth retrying (rate limit, 5xx, dropped
connection) by raising ``TransientError``; anything else it raises reaches the
caller unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BaseClient",
    "CompletionRequest",
    "CompletionResponse",
    "LLMClient",
    "ModelInfo",
    "TransientError",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionRequest:
    """One chat completion request in OpenAI's message format."""

    model: str
    messages: Sequence[Mapping[str, Any]]
    response_format: Mapping[str, Any]
    temperature: float | None = None
    max_tokens: int | None = None
    function: str = ""


@dataclass(frozen=True, slots=True)
class CompletionResponse:
    """The model's text and what it cost. Unknown figures are None."""

    content: str | None
    _: KW_ONLY
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """Prices (USD per token) and limits of a model, as far as the client knows."""

    input_usd_per_token: float | None = None
    output_usd_per_token: float | None = None
    max_output_tokens: int | None = None
    supports_json_schema: bool = True

    @property
    def priced(self) -> bool:
        return self.input_usd_per_token is not None and self.output_usd_per_token is not None


class TransientError(Exception):
    """A failure worth retrying after a pause (429, 5xx, connection reset).

    ``retry_after`` is the provider's requested pause in seconds, if it gave
    one; ``cause`` is the original exception, re-raised when retries run out.
    """

    __module__ = "stratum.clients"  # its public name, as spans report it in error.type

    def __init__(self, message: str, retry_after: float | None = None, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.cause = cause


@runtime_checkable
class LLMClient(Protocol):
    """What the runtime calls. See the module docstring."""

    async def complete(self, request: CompletionRequest) -> CompletionResponse: ...

    def model_info(self, model: str) -> ModelInfo | None: ...

    def count_tokens(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int | None: ...


class BaseClient:
    """A client that knows nothing about models: subclass it and write ``complete``.

    Without prices a cost budget is enforced after each response instead of
    before the request (with a one-time ``StratumWarning``); without a token
    count the prompt size is estimated from its length.

    >>> class Echo(BaseClient):
    ...     async def complete(self, request: CompletionRequest) -> CompletionResponse:
    ...         return CompletionResponse(content='{"result": "ok"}')
    >>> Echo().model_info("any-model") is None
    True
    """

    __module__ = "stratum.clients"

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        raise NotImplementedError(f"{type(self).__name__} must implement complete(request)")

    def model_info(self, model: str) -> ModelInfo | None:
        return None

    def count_tokens(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int | None:
        return None

    def cache_identity(self) -> str:
        """What about this client can change an answer (part of cache keys); here, its class."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}"
