"""Span attributes: OpenTelemetry GenAI semantic conventions plus ``stratum.*``.

An @infer span carries what a GenAI-aware backend (Langfuse, Datadog,
Honeycomb, Grafana) looks for::

    gen_ai.operation.name       "chat"
    gen_ai.provider.name        "openai"      (and the older gen_ai.system)
    gen_ai.request.model        "gpt-4o-mini" (the model route without its provider prefix)
    gen_ai.response.model       as the provider reported it
    gen_ai.request.temperature  when set on the function
    gen_ai.usage.input_tokens / gen_ai.usage.output_tokens

and Stratum's own facts: ``stratum.function``, ``stratum.model`` (the route
as configured, e.g. ``openai/gpt-4o-mini``), ``stratum.contract_hash``,
``stratum.compiled_prompt_hash``, ``stratum.attempts``, ``stratum.cost_usd``,
``stratum.cache_hit``, ``stratum.flow_id``; ``stratum.checkpoint.restored``
(true) on a step of a durable flow whose outcome was restored from its
checkpoint instead of being sent again.
"""

from __future__ import annotations

from typing import Any

from .records import TraceRecord

__all__ = ["RESTORED", "error_type", "flow_attributes", "infer_attributes", "provider_and_model"]

# LiteLLM route prefixes whose GenAI provider name differs from the prefix.
_PROVIDER_NAMES = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "cohere_chat": "cohere",
}
# Bare model names LiteLLM routes without a prefix, by their leading word.
_BARE_PREFIXES = (
    ("gpt-", "openai"), ("chatgpt", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
    ("claude", "anthropic"), ("gemini", "gcp.gemini"), ("mistral", "mistral_ai"), ("codestral", "mistral_ai"),
    ("command", "cohere"), ("deepseek", "deepseek"), ("grok", "x_ai"),
)  # fmt: skip
#: Set (true) on the span of a durable step restored from its checkpoint, not re-sent.
RESTORED = "stratum.checkpoint.restored"
#: What the conventions ask for when the provider is not known.
OTHER = "_OTHER"


def provider_and_model(route: str | None) -> tuple[str, str | None]:
    """Split a model route (``"openai/gpt-4o-mini"``) into GenAI provider and model name.

    >>> provider_and_model("anthropic/claude-sonnet-4-5")
    ('anthropic', 'claude-sonnet-4-5')
    >>> provider_and_model("gpt-4o")
    ('openai', 'gpt-4o')
    """
    if not route:
        return OTHER, None
    prefix, slash, rest = route.partition("/")
    if slash and rest:
        return _PROVIDER_NAMES.get(prefix, prefix), rest
    lowered = route.lower()
    for start, provider in _BARE_PREFIXES:
        if lowered.startswith(start):
            return provider, route
    return OTHER, route


def error_type(error: BaseException) -> str:
    """The exception's canonical class name, as ``error.type`` asks for."""
    cls = type(error)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def infer_attributes(record: TraceRecord) -> dict[str, Any]:
    """Attributes of an @infer span, read from its finished ``TraceRecord``."""
    provider, model = provider_and_model(record.model)
    out: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "stratum.function": record.function,
        "stratum.contract_hash": record.contract_hash,
        "stratum.attempts": record.attempts,
        "stratum.cache_hit": record.cache_hit,
    }
    if model is not None:
        out["gen_ai.request.model"] = model
        out["stratum.model"] = record.model
    if record.response_model:
        out["gen_ai.response.model"] = record.response_model
    if record.temperature is not None:
        out["gen_ai.request.temperature"] = float(record.temperature)
    if record.input_tokens is not None:
        out["gen_ai.usage.input_tokens"] = record.input_tokens
    if record.output_tokens is not None:
        out["gen_ai.usage.output_tokens"] = record.output_tokens
    if record.compiled_prompt_hash is not None:
        out["stratum.compiled_prompt_hash"] = record.compiled_prompt_hash
    if record.cost_usd is not None:
        out["stratum.cost_usd"] = float(record.cost_usd)
    if record.flow_id is not None:
        out["stratum.flow_id"] = record.flow_id
    if record.transient_retries:
        out["stratum.transient_retries"] = record.transient_retries
    if record.impossible_usage:
        out["stratum.impossible_usage"] = True
    if record.extra.get("restored"):
        out[RESTORED] = True
    return out


def flow_attributes(name: str, flow_id: str, spent_usd: float) -> dict[str, Any]:
    """Attributes of a flow span: its name, id and what it spent."""
    out: dict[str, Any] = {"stratum.function": name, "stratum.flow_id": flow_id}
    if spent_usd:
        out["stratum.cost_usd"] = float(spent_usd)
    return out
