"""debate(): two agents argue over two rounds, a judge resolves.

Both agents answer the topic at once; in round two each sees the other's
round-one argument (as opaque data, so it cannot rewrite their
instructions). The runtime compares their ``position`` field to tell the
judge whether they converged. The judge's contract carries
``resolution_type``, so a disagreement is routed with a plain ``if`` to a
human (``await_human``), who makes the call the agents could not.

Unattended: ``python examples/05_debate.py < examples/05_debate.stdin``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

import stratum
from _support import start
from stratum import Budget, HumanReviewContext, await_human, contract, flow, infer, opaque


@contract
class Argument(BaseModel):
    position: Literal["ship", "wait"]
    reasoning: str


@contract
class Verdict(BaseModel):
    decision: Literal["ship", "wait"]
    resolution_type: Literal["consensus", "disagreement", "partial"]
    summary: str


@infer(
    intent="Argue that the release should ship today. Answer the other side's points if there are any.",
    agree_on="position",
)
def release_manager(topic: str, previous_arguments: opaque[Sequence[Argument]] = ()) -> Argument: ...


@infer(
    intent="Argue from the on-call engineer's view of the risk. Answer the other side's points if there are any.",
    agree_on="position",
)
def on_call_engineer(topic: str, previous_arguments: opaque[Sequence[Argument]] = ()) -> Argument: ...


@infer(
    intent=(
        "Resolve the debate. resolution_type is consensus if the agents converged, "
        "disagreement if they did not, partial if they agree on some points only."
    )
)
def judge(topic: str, arguments: opaque[list[list[Argument]]], converged: bool) -> Verdict: ...


@flow(budget=Budget(ms=120_000, usd=0.05))
async def decide(topic: str) -> tuple[Verdict, str]:
    verdict = await stratum.debate([release_manager, on_call_engineer], topic, rounds=2, synthesize=judge)
    if verdict.resolution_type == "consensus":
        return verdict, verdict.decision
    # The agents did not converge: a person decides, with the verdict in front of them.
    review = HumanReviewContext(
        f"The agents disagree ({verdict.resolution_type}). {verdict.summary} Ship or wait?",
        trigger="debate_disagreement",
        artifacts={"topic": topic, "judge_leaning": verdict.decision},
    )
    decision = await await_human(review, Literal["ship", "wait"], options=["ship", "wait"], on_timeout="wait")
    return verdict, decision.value


TOPIC = "Ship release 4.2 on Friday at 17:00? The migration is reversible; two on-call engineers are away."

SCRIPT = [
    {"position": "ship", "reasoning": "All tests pass and the migration can be rolled back in minutes."},
    {"position": "wait", "reasoning": "Half the on-call rota is away; a weekend incident would be slow to fix."},
    {"position": "ship", "reasoning": "Rollback is scripted and rehearsed; waiting delays fixes customers need."},
    {"position": "wait", "reasoning": "A rehearsed rollback still needs someone awake; Monday morning is safer."},
    {
        "decision": "wait",
        "resolution_type": "disagreement",
        "summary": "Both sides hold: the change is safe to roll back, but nobody is free to do it this weekend.",
    },
]


def main() -> None:
    start("05_debate", SCRIPT)
    verdict, final = stratum.run(decide(TOPIC))
    for record in stratum.trace.all_records():
        if record.function in ("release_manager", "on_call_engineer"):
            print(f"{record.function}: {record.output['position']} - {record.output['reasoning']}")
    print(f"verdict: {verdict.decision} ({verdict.resolution_type}): {verdict.summary}")
    print(f"final decision: {final}")


if __name__ == "__main__":
    main()
