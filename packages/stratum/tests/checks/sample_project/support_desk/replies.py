"""The desk's replies: no mistakes here."""

from typing import Literal

from pydantic import BaseModel

from stratum import Budget, contract, flow, infer


@contract
class Reply(BaseModel):
    tone: Literal["warm", "neutral"]
    text: str


@infer(intent="Write a reply to {ticket}", ensure=lambda r: r.tone == "warm" and len(r.text) < 400)
def write(ticket: str) -> Reply: ...


@flow(budget=Budget(usd=0.01))
async def answer(ticket: str) -> str:
    reply = await write(ticket=ticket)
    return reply.text
