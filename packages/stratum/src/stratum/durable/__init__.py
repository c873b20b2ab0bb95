"""Durable flows on DBOS: a run survives a crash, a review waits days, nothing is paid twice.

::

    import stratum
    from stratum import flow

    stratum.configure(durable=stratum.durable.dbos())   # SQLite under .stratum/, or a postgresql:// URL

    @flow(durable=True, budget=stratum.Budget(usd=0.05))
    async def answer(ticket: str) -> str:
        draft = await draft_reply(ticket=ticket)        # a checkpoint: never re-sent after a crash
        decision = await stratum.await_human("Send it?", bool, timeout=86_400, on_timeout=False)
        return draft.text if decision.value else ""

    handle = await stratum.durable.start(answer, "...", flow_id="ticket-123")
    await handle.result()

Reviews are resolved from any process with ``stratum.reviews`` or the
``stratum`` command. Importing this module does not import DBOS; starting
the first run does. See ``docs/durable.md``.
"""

from ._backend import DBOSBackend, dbos, shutdown
from ._flows import attach, cancel, list_flows, start, steps
from ._handles import FlowHandle, FlowStatus, FlowStep

_LAZY: dict[str, str] = {}


def __getattr__(name: str) -> object:
    path = _LAZY.get(name)
    if path is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(path, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    # The exports, loaded or not, and the module's dunders (__file__, __version__...); never the private rest.
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


__all__ = [
    "DBOSBackend",
    "FlowHandle",
    "FlowStatus",
    "FlowStep",
    "attach",
    "cancel",
    "dbos",
    "list_flows",
    "shutdown",
    "start",
    "steps",
]
