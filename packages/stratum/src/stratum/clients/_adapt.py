"""What ``configure(client=...)`` accepts, turned into a client."""

from __future__ import annotations

from typing import Any

from ..exceptions import StratumConfigError

__all__ = ["as_client"]


def as_client(value: Any) -> Any:
    """Turn what a user passed to ``configure(client=...)`` into a client.

    Accepts a client (anything with ``async complete``), the ``litellm`` module
    itself, or a LiteLLM ``Router``-like object (anything with ``acompletion``).
    """
    if callable(getattr(value, "complete", None)):
        return value
    if callable(getattr(value, "acompletion", None)):
        from ._litellm import LiteLLMClient

        return LiteLLMClient.wrap(value)
    raise StratumConfigError(
        f"configure(client=...): {value!r} is not a client; pass an object with "
        "`async complete(request)`, the litellm module, or a litellm Router"
    )
