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
    the expression), ``budget``, ``input`` (a flow input) or ``argument`` (a
    tool argument). ``actual`` is a short preview of the offending value;
    ``expected``, where there is one, says in a few words what would have been
    accepted (``string``, ``one of 'a', 'b'``, ``integer >= 0``).
    """

    kind: str
    where: str
    message: str
    actual: Any = None
    expected: str | None = None

    def to_json(self) -> dict[str, Any]:
        key = "expression" if self.kind == "ensure" else "budget" if self.kind == "budget" else "field"
        out = {"kind": self.kind, key: self.where, "message": self.message}
        if self.expected is not None:
            out["expected"] = self.expected
        out["actual"] = self.actual
        return out
