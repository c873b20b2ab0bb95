"""@infer + @contract + @flow + @compute, end to end.

A support ticket is classified, answered, checked by a plain rule, and every
LLM call leaves a trace record. The first scripted answer is deliberately
under-confident, so you can watch the targeted retry happen.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

import stratum
from _support import start
from stratum import Budget, compute, contract, flow, infer


@contract
class SentimentResult(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    reasoning: str


@contract
class Resolution(BaseModel):
    reply: str
    escalate: bool


@infer(
    intent="Classify the emotional tone of customer feedback",
    context="Treat sarcasm as negative. When genuinely ambiguous, use neutral.",
    ensure=lambda r: r.confidence > 0.7,
    budget=Budget(ms=20_000, usd=0.01),
    retries=3,
)
def classify_sentiment(text: str) -> SentimentResult: ...


@infer(
    intent="Draft a short, polite reply to the customer that addresses their feedback",
    ensure=lambda r: len(r.reply) <= 400,
)
def draft_response(text: str, sentiment: SentimentResult) -> Resolution: ...


@compute
def rule_check(resolution: Resolution, sentiment: SentimentResult) -> bool:
    """Negative feedback with an un-escalated reply goes to a human."""
    return not (sentiment.label == "negative" and not resolution.escalate)


@flow(budget=Budget(ms=60_000, usd=0.05))
async def process_ticket(text: str) -> Resolution:
    sentiment = await classify_sentiment(text=text)
    response = await draft_response(text=text, sentiment=sentiment)
    if rule_check(response, sentiment):
        return response
    return Resolution(reply="A specialist will contact you shortly.", escalate=True)


SCRIPT = [
    {"label": "negative", "confidence": 0.55, "reasoning": "Complaint about delivery, mild tone."},
    {"label": "negative", "confidence": 0.91, "reasoning": "The customer is clearly unhappy about a late delivery."},
    {"reply": "We're sorry your order arrived late. We've refunded the shipping fee.", "escalate": False},
]


def main() -> None:
    start("01_sentiment", SCRIPT)
    ticket = "Great, my package arrived two weeks late. Fantastic service."
    resolution = stratum.run(process_ticket(text=ticket))
    print(f"resolution: escalate={resolution.escalate} reply={resolution.reply!r}")
    for record in stratum.trace.records(kind="infer"):
        print(
            f"trace: {record.function} attempts={record.attempts} hash={record.compiled_prompt_hash} "
            f"contract={record.contract_hash} ms={record.duration_ms:.1f} retry_reasons={list(record.retry_reasons)}"
        )
    for record in stratum.trace.records(kind="compute"):  # @compute steps of the flow leave records too
        print(f"trace: {record.function} (compute) input={record.inputs} output={record.output}")


if __name__ == "__main__":
    main()
