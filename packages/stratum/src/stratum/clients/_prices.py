"""LiteLLM's price map, for clients that do not go through LiteLLM: loaded once, off the event loop.

When LiteLLM is already imported its live map (``litellm.model_cost``: the
remote copy it fetched, plus ``register_model`` entries) is read through
``stratum.clients._litellm``. Otherwise the copy LiteLLM ships as a data file
is parsed (about 50 ms, 3 MB) without importing LiteLLM, which would cost
seconds and a hundred megabytes. Either way it happens once per process, in
a worker thread started by the first ``start()``, and only the four figures
Stratum uses are kept per model.

A model is looked up by its name, then by its name without a provider
prefix (``openai/gpt-4o-mini`` -> ``gpt-4o-mini``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._protocol import ModelInfo

__all__ = ["lookup", "ready", "start", "wait", "when_ready"]

_DATA_FILE = "model_prices_and_context_window_backup.json"

_lock = threading.Lock()
_done = threading.Event()
_started = False
_table: dict[str, ModelInfo] = {}
_callbacks: list[Callable[[], object]] = []


def start() -> None:
    """Begin loading the map in a daemon thread (once per process)."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    threading.Thread(target=_load, name="stratum-prices", daemon=True).start()


def ready() -> bool:
    return _done.is_set()


def wait(timeout_s: float | None = None) -> bool:
    """Block until the map is loaded (for a worker thread: ``warm``); False on timeout."""
    start()
    return _done.wait(timeout_s)


def when_ready(callback: Callable[[], object]) -> None:
    """Call ``callback()`` once the map is loaded: now if it is, else in the loading thread."""
    with _lock:
        if not _done.is_set():
            _callbacks.append(callback)
            return
    callback()


def lookup(model: str) -> ModelInfo | None:
    """What the map says about ``model``; None when the map is not loaded yet or does not know it."""
    if not _done.is_set():
        return None
    found = _table.get(model)
    if found is None and "/" in model:
        found = _table.get(model.split("/", 1)[1])
    return found


def _load() -> None:
    try:
        _table.update(_compact(_source()))
    except Exception:  # no map (LiteLLM absent, an unreadable file): every model is unpriced
        pass
    finally:
        with _lock:
            _done.set()
            callbacks = list(_callbacks)
            _callbacks.clear()
        for callback in callbacks:
            with contextlib.suppress(Exception):  # a waiter's loop that closed meanwhile
                callback()


def _source() -> Mapping[str, Any]:
    from ._litellm import loaded_model_cost  # never imports litellm itself

    live = loaded_model_cost()
    if live is not None:
        return live
    import importlib.util

    spec = importlib.util.find_spec("litellm")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / _DATA_FILE
    data = json.loads(path.read_bytes())
    return data if isinstance(data, dict) else {}


def _compact(source: Mapping[str, Any]) -> dict[str, ModelInfo]:
    out: dict[str, ModelInfo] = {}
    for name, entry in list(source.items()):
        if not isinstance(entry, dict) or entry.get("mode", "chat") != "chat":
            continue
        prices = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        limit = entry.get("max_output_tokens")
        out[name] = ModelInfo(
            input_usd_per_token=float(prices[0]) if isinstance(prices[0], (int, float)) else None,
            output_usd_per_token=float(prices[1]) if isinstance(prices[1], (int, float)) else None,
            max_output_tokens=limit if isinstance(limit, int) and limit > 0 else None,
            supports_json_schema=bool(entry.get("supports_response_schema", False)),
        )
    return out
