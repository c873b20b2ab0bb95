"""The desk's contracts."""

from typing import Literal

from pydantic import BaseModel

from stratum import contract


@contract
class Address(BaseModel):
    city: str
    country: str


@contract
class Ticket(BaseModel):
    label: Literal["billing", "shipping", "technical"]
    confidence: float
    customer: Address


@contract
class Escalation:  # mistake: no annotated field
    team = "tier-2"
