"""Run a test on a virtual clock (``stratum.testing.VirtualTimeLoop``).

Time budgets, review timeouts and scripted latencies then take exactly the
virtual time they say, whatever the machine's load, and no real time.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

from stratum.testing import VirtualTimeLoop

P = ParamSpec("P")


def virtual_time(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Decorate an ``async def`` test to run it on a ``VirtualTimeLoop`` (fixtures still apply)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
            runner.run(test(*args, **kwargs))

    return run


def now() -> float:
    """The running loop's clock: virtual seconds under ``virtual_time``."""
    return asyncio.get_running_loop().time()
