"""Code written for the original stratum-py keeps working: its names, where its examples import them.

The original's ``examples/06_hitl.py`` imports ``HumanDecision`` and ``HumanReviewContext`` from
``stratum.types`` and resolves reviews from its own sink; this is that example's flow, through LiteLLM.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

import stratum
from stratum import contract, flow, infer
from stratum.hitl import PendingReview, await_human
from stratum.testing.openai_server import LocalOpenAIServer
from stratum.types import HumanDecision, HumanReviewContext, Probabilistic, opaque


@contract
class CustomerReply(BaseModel):
    subject: str
    body: str
    tone: Literal["formal", "friendly", "apologetic"]
    reasoning: opaque[str] = ""


@infer(intent="Draft a customer support reply to this complaint", context=["Be empathetic."], retries=2)
def draft_reply(complaint: str) -> CustomerReply: ...


class AutoApprove:
    """The original example's sink: it answers every review itself, from a task of its own."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    async def emit(self, review: PendingReview) -> None:
        task = asyncio.create_task(self._approve(review))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _approve(self, review: PendingReview) -> None:
        await review.resolve(
            HumanDecision(
                value="approve", reviewer="auto", rationale="auto mode",
                decided_at=datetime.now(UTC), review_id=review.review_id,
            )
        )  # fmt: skip


@flow
async def handle_complaint(complaint: str) -> dict[str, Any]:
    draft = await draft_reply(complaint=complaint)
    decision = await await_human(
        context=HumanReviewContext(
            question="Review this draft reply before sending:",
            artifacts={"draft": {"subject": draft.subject, "body": draft.body, "tone": draft.tone}},
        ),
        decision_type=str,
        options=["approve", "reject"],
        timeout=timedelta(seconds=60),
        on_timeout="approve",
    )
    return {"decision": decision.value, "reviewer": decision.reviewer, "sent": decision.value == "approve"}


async def test_the_original_hitl_example_runs_with_names_from_stratum_types(via_litellm: LocalOpenAIServer) -> None:
    stratum.configure(review_sink=AutoApprove())
    via_litellm.push({"subject": "Your order", "body": "Sorry.", "tone": "apologetic", "reasoning": "late"})
    result = await handle_complaint(complaint="I've been waiting 2 weeks for my order.")
    assert result == {"decision": "approve", "reviewer": "auto", "sent": True}
    assert Probabilistic is stratum.Probabilistic and HumanDecision is stratum.hitl.HumanDecision
