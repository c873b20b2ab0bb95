"""A progress bar for a bulk job, when ``map`` runs in a terminal (tqdm, imported only then)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._job_handles import JobHandle

__all__ = ["show", "wanted"]

log = logging.getLogger("stratum.durable")

_REFRESH_S = 0.5
_bars: set[asyncio.Task[None]] = set()  # running bars, kept from the garbage collector


def wanted(flag: bool | None) -> bool:
    """``flag`` if given, else whether stdout is a terminal."""
    if flag is not None:
        return flag
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def show(handle: JobHandle, total: int) -> None:
    """Follow ``handle`` with a bar on stdout until the job finishes (or this loop stops)."""
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:  # pragma: no cover - tqdm is in the durable extra
        return
    task = asyncio.get_running_loop().create_task(_follow(handle, total, tqdm))
    _bars.add(task)
    task.add_done_callback(_bars.discard)


async def _follow(handle: JobHandle, total: int, tqdm: Any) -> None:
    bar = tqdm(total=total, desc=f"job {handle.job_id}", unit="item", file=sys.stdout, dynamic_ncols=True)
    try:
        while True:
            progress = await handle.progress()
            bar.n = progress.done + progress.failed
            spent = f"${progress.spent_usd:.4f}" + ("" if progress.budget_usd is None else
                                                    f"/{progress.budget_usd:g}")  # fmt: skip
            bar.set_postfix(failed=progress.failed, spent=spent, refresh=False)
            bar.refresh()
            if progress.finished:
                return
            await asyncio.sleep(_REFRESH_S)
    except asyncio.CancelledError:
        raise
    except Exception:  # a bar never breaks the job it shows
        log.debug("the progress bar of job %s stopped", handle.job_id, exc_info=True)
    finally:
        bar.close()
