"""The desk's flows."""

from stratum import Budget, flow, infer
from support_desk.contracts import Ticket


@infer(intent="Classify the ticket", budget=Budget(usd=0.004))
def classify(text: str) -> Ticket: ...


@infer(intent="Summarise the ticket in one line", budget=Budget(usd=0.004))
def headline(text: str) -> str: ...


@flow(budget=Budget(usd=0.005))
async def triage(text: str) -> str:
    ticket = await classify(text=text)
    line = await headline(text=text)
    return f"{ticket.label}: {line}"


@flow
def report(text: str) -> str:
    return text
