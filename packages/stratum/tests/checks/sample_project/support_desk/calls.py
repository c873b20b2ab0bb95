"""The desk's model calls."""

from __future__ import annotations

from stratum import infer, opaque, refine
from support_desk.contracts import Ticket


@infer(intent="Route this ticket", ensure=lambda r: r.confidnce > 0.7)
def route(text: str) -> Ticket: ...


@infer(intent="Is this ticket about shipping?", ensure=lambda r: r.label != "shiping")
def is_shipping(text: str) -> Ticket: ...


@infer(intent="Where is the customer?", ensure=lambda r: r.customer.citty != "")
def locate(text: str) -> Ticket: ...


@infer(intent="Summarise {text}", given=lambda txt: len(txt) > 0)
def summarise(text: str) -> str: ...


@infer(intent="Vote on the label", quorum=3, agree_on="lable", threshold=2)
def vote(text: str) -> Ticket: ...


@infer(intent="Count the words")
def count(text: str) -> int:
    return len(text.split())


@infer(intent="Extract the fields")
def extract(text: str) -> dict[str, str]: ...


@infer(intent="Grade the reply from 0 to 1")
def grade(reply: str) -> float: ...


@refine(until=lambda text: grade(reply=text) > 0.8, feedback=lambda text: "warmer, please")
@infer(intent="Draft a reply to {text}")
def draft(text: str) -> str: ...


@infer(intent="Escalate the ticket")
def escalate(text: str) -> Tikcet: ...  # noqa: F821  (the mistake under test)


note = "The customer is a journalist."


@infer(intent=f"Reply to the ticket, keeping in mind: {note}")
def reply(text: str, note: opaque[str]) -> str: ...
