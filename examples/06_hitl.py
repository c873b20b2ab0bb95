"""await_human: a person approves, edits or rejects a drafted reply.

An @infer call drafts a reply to a complaint; the flow then suspends on
``await_human`` until a reviewer decides, and acts on the typed decision:
approve sends the draft, edit asks for the replacement text (a second,
length-checked review), reject escalates. The reviewer's minutes do not
count against the flow's 30-second budget, and the trace shows which model
call ran after which human decision.

Interactive: ``python examples/06_hitl.py``. Unattended:
``python examples/06_hitl.py < examples/06_hitl.stdin`` (the answers there
include an invalid one, to show the re-ask).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field

import stratum
from _support import start
from stratum import (
    Budget,
    HITLDeliveryError,
    HITLTimeoutError,
    HumanReviewContext,
    await_human,
    compute,
    contract,
    flow,
    infer,
)
from stratum.hitl import ConsoleReviewSink


@contract
class Draft(BaseModel):
    reply: str
    tone: Literal["apologetic", "neutral", "upbeat"]


@infer(
    intent="Draft a short, polite reply to the customer's complaint",
    ensure=lambda d: len(d.reply) <= 400,
)
def draft_reply(complaint: str) -> Draft: ...


@contract
class CaseNote(BaseModel):
    summary: str


@infer(intent="Write a one-line case note for the CRM: what the customer wanted and what we did")
def case_note(complaint: str, outcome: str) -> CaseNote: ...


Action = Literal["approve", "edit", "reject"]
# What an editor may send: non-empty, and short enough for the ticket system.
ReplyText = Annotated[str, Field(min_length=10, max_length=400)]


@compute
def send(reply: str) -> str:
    return f"sent to customer: {reply}"


@compute
def escalate(complaint: str) -> str:
    return f"escalated to a specialist: {complaint[:60]}"


@flow(budget=Budget(ms=30_000, usd=0.01))
async def answer_complaint(complaint: str) -> str:
    outcome = await decide_and_act(complaint)
    # Runs after the reviews: its trace record carries the last review's id.
    note = await case_note(complaint=complaint, outcome=outcome)
    print(f"case note: {note.summary}")
    return outcome


async def decide_and_act(complaint: str) -> str:
    draft = await draft_reply(complaint=complaint)
    decision = await await_human(
        HumanReviewContext(
            "Send this reply to the customer?",
            trigger="outbound_message",
            artifacts={"complaint": complaint, "draft": draft.reply, "tone": draft.tone},
        ),
        Action,
        options=["approve", "edit", "reject"],
        timeout=timedelta(minutes=10),
        on_timeout="reject",  # nobody answered: do not send an unreviewed reply
    )
    print(f"decision: {decision.value!r} by {decision.reviewer} at {decision.decided_at:%H:%M:%S} UTC")
    if decision.value == "approve":
        return send(draft.reply)
    if decision.value == "edit":
        edited = await await_human(
            HumanReviewContext("Type the reply to send instead", artifacts={"draft": draft.reply}),
            ReplyText,
            timeout=timedelta(minutes=10),
        )
        return send(edited.value)
    return escalate(complaint)


SCRIPT = [
    {"reply": "We're sorry your parcel is late. It is on its way and should arrive tomorrow.", "tone": "apologetic"},
    {"summary": "Late parcel, no email answers; sent an edited apology with a delivery-fee refund."},
]


def main() -> int:
    start("06_hitl", SCRIPT)
    stratum.configure(review_sink=ConsoleReviewSink(reviewer="support-lead"))
    complaint = "My parcel was due a week ago and nobody answers my emails."
    try:
        outcome = stratum.run(answer_complaint(complaint=complaint))
    except (HITLDeliveryError, HITLTimeoutError) as exc:
        print(f"no decision: {exc}")
        return 1
    print(f"outcome: {outcome}")
    for record in stratum.trace.all_records():
        print(
            f"trace: {record.function.rsplit('.', 1)[-1]} flow={record.flow_id[:8] if record.flow_id else None} "
            f"review={record.review_id[:8] if record.review_id else None} ok={record.ok} ms={record.duration_ms:.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
