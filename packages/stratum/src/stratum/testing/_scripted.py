"""``ScriptedClient``: a deterministic client for your own tests (no model, no network).

It answers from a queue, or from a function of the request, and records
every request it saw::

    from stratum.testing import ScriptedClient

    client = ScriptedClient([
        {"label": "positive", "confidence": 0.4, "reasoning": "unsure"},   # fails ensure
        {"label": "positive", "confidence": 0.9, "reasoning": "clear"},
    ])
    stratum.configure(client=client, default_model="test-model")
    result = await classify(text="Great!")
    assert len(client.requests) == 2

Queue items may be a dict/list (sent as JSON), a str (sent verbatim), a
pydantic model, a ``Reply`` (content plus usage, latency, refusal), or an
exception instance (raised by the client, e.g. ``TransientError``).

``in_flight`` and ``max_in_flight`` count requests being answered (now, and
at most at once), so a test can tell concurrent calls from sequential ones
without timing them. ``hold()`` keeps requests waiting until ``release()``,
so a test can have all of them in flight at once without relying on a
latency::

    client.hold()
    running = asyncio.create_task(parallel(*(classify(text=t) for t in texts)))
    ...                                  # wait (bounded) until client.in_flight == len(texts)
    client.release()
    await running
    assert client.max_in_flight == len(texts)
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from pydantic import BaseModel

from ..clients._protocol import CompletionRequest, CompletionResponse, ModelInfo

__all__ = ["Reply", "ScriptExhausted", "ScriptedClient"]


class ScriptExhausted(AssertionError):
    """The test made more requests than it scripted responses for."""

    __module__ = "stratum.testing"  # its public name, as spans report it in error.type


@dataclass(frozen=True, slots=True)
class Reply:
    content: str | None = None
    _: KW_ONLY
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    refusal: str | None = None
    latency_s: float | None = None


Responder = Callable[[CompletionRequest], Any]


class ScriptedClient:
    """A client whose answers are written by the test."""

    def __init__(
        self,
        responses: Iterable[Any] = (),
        *,
        respond: Responder | None = None,
        latency_s: float = 0.0,
        model_info: ModelInfo | None = None,
        max_requests_kept: int = 10_000,
    ) -> None:
        self._queue: collections.deque[Any] = collections.deque(responses)
        #: Answers when the queue is empty (sync or async); a test may replace it.
        self.respond = respond
        self.latency_s = latency_s
        self._model_info = model_info
        #: Every request received (most recent ``max_requests_kept``).
        self.requests: collections.deque[CompletionRequest] = collections.deque(maxlen=max_requests_kept)
        #: Requests that were cancelled while waiting for their answer (latency or hold).
        self.cancelled = 0
        #: Requests being answered now, and the most that ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._held: asyncio.Event | None = None

    def hold(self) -> None:
        """Keep every request from now on waiting, in flight, until ``release()``."""
        if self._held is None:
            self._held = asyncio.Event()

    def release(self) -> None:
        """Let the held requests go on to their answers; later requests are not held."""
        held, self._held = self._held, None
        if held is not None:
            held.set()

    def push(self, *responses: Any) -> None:
        self._queue.extend(responses)

    @property
    def remaining(self) -> int:
        return len(self._queue)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: CompletionRequest) -> CompletionResponse:
        if self._queue:
            item = self._queue.popleft()
        elif self.respond is not None:
            item = self.respond(request)
            if inspect.isawaitable(item):
                item = await item
        else:
            raise ScriptExhausted(
                f"ScriptedClient: no response scripted for request #{len(self.requests)} ({request.function})"
            )
        latency = item.latency_s if isinstance(item, Reply) and item.latency_s is not None else self.latency_s
        held = self._held
        if latency or held is not None:
            try:
                if held is not None:
                    await held.wait()
                if latency:
                    await asyncio.sleep(latency)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if isinstance(item, BaseException):
            raise item
        return self._response(item, request)

    def _response(self, item: Any, request: CompletionRequest) -> CompletionResponse:
        reply = item if isinstance(item, Reply) else Reply(content=_text(item))
        input_tokens = reply.input_tokens
        if input_tokens is None:
            input_tokens = self.count_tokens(request.model, request.messages)
        output_tokens = reply.output_tokens
        if output_tokens is None:
            output_tokens = max(1, len(reply.content or "") // 4)
        if request.max_tokens is not None:
            output_tokens = min(output_tokens, request.max_tokens)  # a provider stops there too
        cost = reply.cost_usd
        info = self._model_info
        if cost is None and info is not None and info.priced:
            cost = input_tokens * info.input_usd_per_token + output_tokens * info.output_usd_per_token  # type: ignore[operator]
        return CompletionResponse(
            content=reply.content,
            model=request.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            refusal=reply.refusal,
        )

    def model_info(self, model: str) -> ModelInfo | None:
        return self._model_info

    def count_tokens(self, model: str, messages: Sequence[Mapping[str, Any]]) -> int:
        """About four characters per token, like common BPE tokenizers on English."""
        return max(1, len(json.dumps(list(messages), ensure_ascii=False)) // 4)


def _text(item: Any) -> str | None:
    if item is None or isinstance(item, str):
        return item
    if isinstance(item, BaseModel):
        return item.model_dump_json()
    return json.dumps(item)
