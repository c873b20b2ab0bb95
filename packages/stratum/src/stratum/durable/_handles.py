"""Handles on durable runs: a status, the recorded steps, the result awaited from any process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from ..exceptions import FlowCancelled, FlowFailed, FlowNotFound
from ._state import Access

if TYPE_CHECKING:
    from dbos import WorkflowStatus

__all__ = ["FlowHandle", "FlowStatus", "FlowStep", "one_status", "status_of"]

Status = Literal["pending", "enqueued", "success", "error", "cancelled", "max_recovery_attempts_exceeded", "delayed"]
_POLL_S = 0.2
_MAX_LIST = 10_000


def _moment(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000.0, UTC)


@dataclass(frozen=True, slots=True)
class FlowStatus:
    """Where a durable run stands (``stratum flows list`` prints these)."""

    flow_id: str
    name: str
    status: Status
    created_at: datetime | None
    updated_at: datetime | None
    executor_id: str | None
    #: ``"TypeName: message"`` when the run failed.
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("success", "error", "cancelled", "max_recovery_attempts_exceeded")

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow_id": self.flow_id,
            "name": self.name,
            "status": self.status,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
            "executor_id": self.executor_id,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class FlowStep:
    """One recorded step of a run: its position, name and how it ended."""

    position: int
    name: str
    ok: bool
    cost_usd: float | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "name": self.name, "ok": self.ok, "cost_usd": self.cost_usd,
                "summary": self.summary}  # fmt: skip


def status_of(w: WorkflowStatus) -> FlowStatus:
    error = w.error
    text = None
    if error is not None:
        text = f"{type(error).__name__}: {error}"[:500] if isinstance(error, BaseException) else str(error)[:500]
    return FlowStatus(
        flow_id=w.workflow_id, name=w.name, status=str(w.status).lower(),  # type: ignore[arg-type]
        created_at=_moment(w.created_at), updated_at=_moment(w.updated_at), executor_id=w.executor_id, error=text,
    )  # fmt: skip


class FlowHandle:
    """A durable run, by id: ``await handle.result()``, ``await handle.status()``.

    Works in any process configured with the same database: the result of a
    run executing elsewhere is awaited by polling it.
    """

    def __init__(self, flow_id: str, where: Access, task: Any = None) -> None:
        self.flow_id = flow_id
        self._access = where
        self._task = task  # the DBOS handle of a run started by this process

    def __repr__(self) -> str:
        return f"<FlowHandle {self.flow_id}>"

    async def status(self) -> FlowStatus:
        """The run's current status, with its error if it failed (``FlowNotFound`` if the id is unknown)."""
        return await one_status(self._access, self.flow_id, load_output=True)

    async def result(self, timeout_s: float | None = None) -> Any:
        """The run's return value, or its error raised here (typed as it was raised).

        Waits for a run still going (``timeout_s`` bounds the wait:
        ``TimeoutError``); ``FlowCancelled`` if it was cancelled.
        """
        async with asyncio.timeout(timeout_s):
            if self._task is not None:
                return await _translated(self.flow_id, self._task.get_result())
            while True:
                found = await one_status(self._access, self.flow_id, load_output=True)
                if found.done:
                    break
                await asyncio.sleep(_POLL_S)
            return await _translated(self.flow_id, _recorded_result(self._access, self.flow_id))


async def _recorded_result(where: Access, flow_id: str) -> Any:
    def read() -> Any:
        return where.client().retrieve_workflow(flow_id).get_result(polling_interval_sec=_POLL_S)

    return await asyncio.to_thread(read)


async def _translated(flow_id: str, waiting: Any) -> Any:
    from dbos._error import DBOSAwaitedWorkflowCancelledError, DBOSWorkflowCancelledError

    try:
        return await waiting
    except (DBOSAwaitedWorkflowCancelledError, DBOSWorkflowCancelledError):
        raise FlowCancelled(flow_id) from None
    except FlowFailed as exc:
        raise FlowFailed(flow_id, exc.error_type, exc.message) from None


async def one_status(where: Access, flow_id: str, *, load_output: bool = False) -> FlowStatus:
    if not where.exists():
        raise FlowNotFound(flow_id)

    def read() -> list[WorkflowStatus]:
        return list(where.client().list_workflows(workflow_ids=[flow_id], load_input=False, load_output=load_output))

    found = await asyncio.to_thread(read)
    if not found:
        raise FlowNotFound(flow_id)
    return status_of(found[0])
