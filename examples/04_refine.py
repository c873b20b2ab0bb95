"""@refine: iterate until a check written in Python passes.

The model drafts a product blurb; ``blurb_problems`` (plain code, never sent
to the model) lists what is wrong with it. Until the list is empty, the
problems go into the next prompt as "Previous output had the following
issues: ...". The model never decides when it is done; the check does.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

import stratum
from _support import start
from stratum import Budget, ConvergenceFailure, compute, contract, infer, refine


@contract
class Blurb(BaseModel):
    headline: str
    body: str


@compute
def blurb_problems(blurb: Blurb) -> list[str]:
    """House rules for product copy, checked in code."""
    problems = []
    words = len(blurb.body.split())
    if words > 40:
        problems.append(f"the body has {words} words; keep it to 40 or fewer")
    if not re.search(r"\$\d", blurb.body):
        problems.append("the body must state the price in dollars, e.g. $49")
    if blurb.headline.endswith("!"):
        problems.append("the headline must not end with an exclamation mark")
    return problems


def show(blurb: Blurb) -> list[str]:
    problems = blurb_problems(blurb)
    print(f"  draft: {blurb.headline!r} -> {problems or 'accepted'}")
    return problems


@refine(until=lambda b: not blurb_problems(b), feedback=show, max_iterations=4)
@infer(
    intent="Write a short product blurb for an online shop",
    context="Friendly and concrete. Mention the price.",
    budget=Budget(ms=60_000, usd=0.02),
)
def write_blurb(product: str, price_usd: int) -> Blurb: ...


SCRIPT = [
    {"headline": "Meet the Aurora kettle!", "body": "Boils a litre in three minutes and keeps it hot for an hour."},
    {
        "headline": "Meet the Aurora kettle",
        "body": (
            "The Aurora kettle boils a full litre of water in about three minutes, keeps it hot for an hour, "
            "switches itself off when empty, and looks good on any counter, all for just $49 with free delivery "
            "and a two-year warranty included."
        ),
    },
    {
        "headline": "Meet the Aurora kettle",
        "body": "Boils a litre in three minutes, keeps it hot for an hour, switches off when empty. $49.",
    },
]


def main() -> None:
    start("04_refine", SCRIPT)
    try:
        blurb = stratum.run(write_blurb(product="Aurora 1.0 l electric kettle", price_usd=49))
    except ConvergenceFailure as failure:
        print(f"no acceptable blurb after {len(failure.iterations)} iterations; last problems: {failure.feedback[-1]}")
        return
    print(f"final: {blurb.headline} - {blurb.body}")
    for record in stratum.trace.records(function="write_blurb"):
        step = record.extra["refine"]
        print(f"trace: iteration {step['iteration']}/{step['max_iterations']} prompt={record.compiled_prompt_hash}")


if __name__ == "__main__":
    main()
