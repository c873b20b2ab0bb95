"""Human-in-the-loop: ``await_human`` suspends a flow until a person decides.

::

    from stratum.hitl import HumanReviewContext, QueueReviewSink, await_human

    @flow
    async def publish(text: str) -> str:
        draft = await write_post(text=text)
        decision = await await_human(
            HumanReviewContext("Publish this post?", artifacts={"draft": draft}),
            Literal["publish", "discard"],
            options=["publish", "discard"],
            timeout=timedelta(hours=4),
            on_timeout="discard",
        )
        return draft.body if decision.value == "publish" else ""

The review goes to a ``ReviewSink``: the console by default,
``QueueReviewSink`` for web apps and workers, ``WebhookReviewSink`` to
announce it over HTTP. See ``docs/hitl.md``.
"""

from ._console import ConsoleReviewSink
from ._decision import DecisionType
from ._queue import QueueReviewSink
from ._review import HumanDecision, HumanReviewContext, PendingReview, ReviewSink, ReviewState
from ._suspend import await_human
from ._webhook import WebhookReviewSink

__all__ = [
    "ConsoleReviewSink",
    "DecisionType",
    "HumanDecision",
    "HumanReviewContext",
    "PendingReview",
    "QueueReviewSink",
    "ReviewSink",
    "ReviewState",
    "WebhookReviewSink",
    "await_human",
]
