"""One problem found in a spec: where it is, what is wrong, and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["SpecIssue", "render_path", "suggest"]


@dataclass(frozen=True)
class SpecIssue:
    """A validation error with a dotted path such as ``flows.run.steps[1].inputs.text``.

    ``code`` is stable and machine-readable (``unknown_function``, ``cycle``, ...);
    ``suggestion`` is a hint for a fix, e.g. "did you mean `classify`?".
    """

    path: str
    code: str
    message: str
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "code": self.code, "message": self.message}
        if self.suggestion:
            out["suggestion"] = self.suggestion
        return out


def render_path(parts: Iterable[str | int]) -> str:
    """``("flows", "run", "steps", 1, "inputs")`` -> ``flows.run.steps[1].inputs``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def suggest(word: str, options: Iterable[str]) -> str | None:
    """A "did you mean" hint when ``word`` is close to one of ``options``."""
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None
