"""``prompt_text``: what a model was asked, from either fake's record of a request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..clients._protocol import CompletionRequest

__all__ = ["prompt_text"]


def prompt_text(request: CompletionRequest | Mapping[str, Any]) -> str:
    """The text of a request's user turn: instructions, inputs, feedback, and the opaque attachment.

    ``request`` is what ``ScriptedClient.requests`` holds (a
    ``CompletionRequest``) or what ``LocalOpenAIServer.requests`` holds (the
    JSON body). The user turn is one string, or a list of content parts when
    opaque data is attached; the parts are joined by newlines::

        assert "confidence=0.4" in prompt_text(client.requests[1])   # the retry says what failed
    """
    messages = request["messages"] if isinstance(request, Mapping) else request.messages
    turn = next(m for m in reversed(messages) if m.get("role") == "user")
    content = turn["content"]
    return content if isinstance(content, str) else "\n".join(part["text"] for part in content)
