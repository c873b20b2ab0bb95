"""How a public face loads its exports on first use (PEP 562), written once for every face.

A face lists what it exports in ``__all__`` and where the lazily loaded ones live in a
``_LAZY`` table (relative module paths; a path ending in the name itself is a submodule)::

    _LAZY = {"LiteLLMClient": "._litellm", "testing": ".testing"}
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)

``dir()`` then shows the exports, loaded or not, and the module's dunders; never the
private rest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(
    module_name: str, table: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    def __getattr__(name: str) -> object:
        path = table.get(name)
        if path is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        import importlib

        # Relative to the face's package, as an import statement in it would be (trace.py is a module).
        anchor = sys.modules[module_name].__package__ or module_name
        module = importlib.import_module(path, anchor)
        value = module if path == f".{name}" else getattr(module, name)
        sys.modules[module_name].__dict__[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        namespace = sys.modules[module_name].__dict__
        exported = namespace.get("__all__", ())
        return sorted({*exported, *(name for name in namespace if name.startswith("__"))})

    return __getattr__, __dir__
