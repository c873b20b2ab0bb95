"""Migrating an @infer to a @compute without changing its callers.

Phase 1 routes tickets with a model. Phase 2 replaces it with keyword rules:
same signature, same contract, and the flow calling it does not change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel

import stratum
from _support import start
from stratum import compute, contract, flow, infer


@contract
class TicketRoute(BaseModel):
    team: Literal["billing", "shipping", "technical"]
    priority: Literal["low", "normal", "urgent"]


# Phase 1: an LLM routes tickets.
@infer(intent="Route this support ticket to the team that should handle it")
def route_ticket_llm(text: str) -> TicketRoute: ...


# Phase 2: patterns emerged; rules do it. Same signature, same contract.
@compute
async def route_ticket_rules(text: str) -> TicketRoute:
    lowered = text.lower()
    if "refund" in lowered or "charge" in lowered:
        team = "billing"
    elif "deliver" in lowered:
        team = "shipping"
    else:
        team = "technical"
    return TicketRoute(team=team, priority="urgent" if "!" in text else "normal")


def make_flow(route_ticket: Callable[..., Awaitable[TicketRoute]]) -> Callable[[str], Awaitable[TicketRoute]]:
    @flow
    async def triage(text: str) -> TicketRoute:
        return await route_ticket(text=text)  # the caller never knows which kind it got

    return triage


TICKETS = ["I was charged twice, please refund!", "My delivery never arrived", "The app crashes on login"]
SCRIPT = [
    {"team": "billing", "priority": "urgent"},
    {"team": "shipping", "priority": "normal"},
    {"team": "technical", "priority": "normal"},
]


async def compare() -> None:
    with_llm, with_rules = make_flow(route_ticket_llm), make_flow(route_ticket_rules)
    for ticket in TICKETS:
        a, b = await with_llm(ticket), await with_rules(ticket)
        print(f"{ticket!r}: infer={a.team}/{a.priority} compute={b.team}/{b.priority} same_type={type(a) is type(b)}")
    llm_calls = len(stratum.trace.records(function="route_ticket_llm"))
    print(f"model calls: {llm_calls} (phase 1) vs 0 (phase 2)")


if __name__ == "__main__":
    start("02_migrate", SCRIPT)
    stratum.run(compare())
