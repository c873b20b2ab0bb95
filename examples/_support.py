"""Shared start-up for the examples: a real model when configured, else a script.

With ``STRATUM_MODEL`` set (e.g. ``openai/gpt-4o-mini``) and that provider's
API key in the environment, the examples call the real model through LiteLLM.
Otherwise they run against ``stratum.testing.ScriptedClient`` with answers
written below each example, and say so in their first line of output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import stratum
from stratum.clients import CompletionRequest, ModelInfo
from stratum.testing import ScriptedClient

_KEYS = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY",
    "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY", "TOGETHERAI_API_KEY",
)  # fmt: skip


def start(
    title: str,
    scripted: Iterable[Any] = (),
    respond: Callable[[CompletionRequest], Any] | None = None,
) -> ScriptedClient | None:
    """Configure the runtime and print the mode line. Returns the scripted client, if any."""
    model = os.environ.get("STRATUM_MODEL")
    if model and any(os.environ.get(k) for k in _KEYS):
        stratum.configure(default_model=model)
        print(f"[{title}] mode: real model {model} through LiteLLM")
        return None
    # Priced like a small hosted model so that budgets behave as they would for real.
    prices = ModelInfo(input_usd_per_token=1.5e-7, output_usd_per_token=6e-7, max_output_tokens=16_384)
    client = ScriptedClient(scripted, respond=respond, model_info=prices)
    stratum.configure(client=client, default_model="scripted")
    print(f"[{title}] mode: scripted client (set STRATUM_MODEL and an API key to use a real model)")
    return client
