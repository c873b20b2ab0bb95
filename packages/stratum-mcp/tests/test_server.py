"""The server's plumbing, in process: tool bodies run off the event loop, and failures map to results."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from stratum_mcp import FlowService, ServerConfig
from stratum_mcp.errors import FlowNotFound, StoreError
from stratum_mcp.tools import ToolRunner, build_server


@pytest.fixture
def tools(tmp_path: Path) -> Iterator[ToolRunner]:
    with ToolRunner(ServerConfig(db_path=tmp_path / "flows.db", project_root=tmp_path)) as runner:
        yield runner


def test_a_slow_tool_body_does_not_block_other_calls(tools: ToolRunner, run_async: Any) -> None:
    released = threading.Event()
    handler = tools

    def slow(service: FlowService) -> dict[str, object]:
        # Finishes only once the second call has run: impossible if bodies ran on the event loop.
        assert released.wait(timeout=10)
        return {"call": "slow"}

    def quick(service: FlowService) -> dict[str, object]:
        released.set()
        return {"call": "quick"}

    async def body() -> list[str]:
        order: list[str] = []

        async def call(fn: object) -> None:
            result = await handler.call(fn)  # type: ignore[arg-type]
            assert result.structured_content is not None
            order.append(str(result.structured_content["call"]))

        async with anyio.create_task_group() as group:
            group.start_soon(call, slow)
            group.start_soon(call, quick)
        return order

    assert run_async(body, timeout=15) == ["quick", "slow"]


def test_typed_errors_and_unexpected_exceptions_become_error_results(tools: ToolRunner, run_async: Any) -> None:
    handler = tools

    def not_found(service: FlowService) -> dict[str, object]:
        raise FlowNotFound("6f1c7a4e-0000-4000-8000-000000000000")

    def crash(service: FlowService) -> dict[str, object]:
        raise RuntimeError("secret detail")

    async def body() -> None:
        typed = await handler.call(not_found)
        assert typed.is_error and typed.structured_content is not None
        assert typed.structured_content["error"] == "flow_not_found"
        unexpected = await handler.call(crash)
        assert unexpected.is_error and unexpected.structured_content is not None
        assert unexpected.structured_content["error"] == "internal_error"
        assert "secret detail" not in str(unexpected.structured_content)

    run_async(body)


def test_the_store_is_opened_on_the_first_call_not_at_start_up(tmp_path: Path) -> None:
    build_server(ServerConfig(db_path=tmp_path / "flows.db", project_root=tmp_path))
    assert not (tmp_path / "flows.db").exists()


def test_a_closed_runner_closes_its_store_and_refuses_further_calls(
    tmp_path: Path, review_spec: str, run_async: Any
) -> None:
    runner = ToolRunner(ServerConfig(db_path=tmp_path / "flows.db", project_root=tmp_path))
    service = runner.service()
    runner.close()
    with pytest.raises(StoreError):
        service.store.recent(1)  # the store's connection is closed

    async def body() -> None:
        refused = await runner.call(lambda s: {"call": "late"})
        assert refused.is_error and refused.structured_content is not None
        assert refused.structured_content["error"] == "store_error"

    run_async(body)


def test_a_call_the_client_gave_up_on_is_abandoned_not_waited_for(tmp_path: Path, run_async: Any) -> None:
    runner = ToolRunner(ServerConfig(db_path=tmp_path / "flows.db", project_root=tmp_path))
    started, release = threading.Event(), threading.Event()

    def stuck(service: FlowService) -> dict[str, object]:
        started.set()
        release.wait(timeout=60)  # a store locked by another process, a slow disk: anything that blocks
        return {"call": "late"}

    async def body() -> None:
        with anyio.move_on_after(60) as scope:  # the bound; the call is cancelled long before it
            async with anyio.create_task_group() as group:
                group.start_soon(runner.call, stuck)
                await anyio.to_thread.run_sync(started.wait, 30)
                group.cancel_scope.cancel()  # the client went away: stop waiting for the call
        assert not scope.cancelled_caught

    run_async(body)
    try:
        assert runner.close(grace=0) == 1  # still running; the store is left to the exiting process
        with pytest.raises(StoreError):
            runner.service()  # and no new call starts
    finally:
        release.set()
    # Once the call has finished, closing again closes the store (the grace only bounds the wait).
    assert runner.close(grace=30) == 0
