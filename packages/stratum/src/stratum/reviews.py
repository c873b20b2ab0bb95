"""Durable human reviews, from any process that shares the durable database.

A durable flow's ``await_human`` stores its review; here an application, a
worker or an operator lists and answers them::

    import stratum

    for review in await stratum.reviews.pending():
        print(review.review_id, review.context.question, review.options)
    decision = await stratum.reviews.resolve(review_id, "approve", reviewer="ana")
    for review in await stratum.reviews.closed():     # decided, timed out, cancelled
        print(review.state, review.decision)

``resolve`` validates before it delivers, delivers exactly once, and raises
``InvalidDecision`` (the review stays pending) or ``ReviewNotPending``
(unknown, resolved, timed out, or its run finished). The database is the one
``configure(durable=...)`` names, else ``$STRATUM_DURABLE_URL``, else
``.stratum/durable.sqlite``. See ``docs/durable.md``.
"""

from .durable._reviews import closed, get, pending, resolve

__all__ = ["closed", "get", "pending", "resolve"]
