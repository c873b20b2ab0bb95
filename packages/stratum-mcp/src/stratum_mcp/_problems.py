"""The two kinds of problem an agent is told about, as plain JSON-ready values.

A :class:`Violation` is one reason a reported result (or a flow's inputs) was
rejected; a :class:`SpecIssue` is one problem found in a spec. They sit below
every layer because errors carry them as fields (:mod:`stratum_mcp.errors`),
the engine records violations in each attempt, and spec validation collects
issues. Users meet them as ``stratum_mcp.engine.Violation`` and
``stratum_mcp.spec.SpecIssue``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SpecIssue", "Violation"]


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


@dataclass(frozen=True)
class Violation:
    """One reason a result was rejected.

    ``kind`` is ``schema`` (``where`` is a field path), ``ensure`` (``where`` is
    the expression), ``budget`` or ``input``. ``actual`` is a short preview of
    the offending value.
    """

    kind: str
    where: str
    message: str
    actual: Any = None

    def to_json(self) -> dict[str, Any]:
        key = "expression" if self.kind == "ensure" else "field" if self.kind in ("schema", "input") else "budget"
        return {"kind": self.kind, key: self.where, "message": self.message, "actual": self.actual}
