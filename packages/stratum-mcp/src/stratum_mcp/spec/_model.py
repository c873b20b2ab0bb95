"""The typed form of a validated spec. Everything here is frozen and already checked.

A :class:`Spec` holds contracts, functions and flows; a :class:`Flow` holds its
steps already in execution (topological) order, each step's inputs bound to a
:class:`Reference` or a :class:`Literal`. From version 0.2 a step also has a
``kind`` (a function, a gate, a sub-flow or a parallel fan-out), its
:class:`Routes`, an optional ``skip_if``, and for loops and fan-outs an
:class:`Iteration` or a :class:`Parallel`. An inline step (``intent`` on the
step) is given a function of its own, named ``<flow>.<step>``, so every step
that does work has a :class:`Function`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from typing import Literal as TypingLiteral

from stratum_mcp.expressions import CompiledExpression

__all__ = [
    "ANY_OBJECT",
    "FIELD_TYPES",
    "SPEC_VERSION",
    "Binding",
    "Budget",
    "Contract",
    "FieldType",
    "Flow",
    "Function",
    "Iteration",
    "Literal",
    "Parallel",
    "Reference",
    "Routes",
    "Spec",
    "Step",
    "StepKind",
    "Template",
    "fields_schema",
]

#: The newest spec version this server reads (see :data:`~stratum_mcp.spec.SPEC_VERSIONS` for all).
SPEC_VERSION = "0.2"
FIELD_TYPES = ("string", "number", "integer", "boolean", "array", "object")


@dataclass(frozen=True)
class FieldType:
    """The declared type of one field, contract member or input."""

    type: str
    description: str | None = None
    enum: tuple[Any, ...] | None = None
    items: FieldType | None = None
    properties: tuple[tuple[str, FieldType], ...] | None = None
    required: bool = True
    min: float | None = None
    max: float | None = None

    def json_schema(self) -> dict[str, Any]:
        """This type as JSON Schema; ``min``/``max`` bound values, lengths or item counts by type."""
        schema: dict[str, Any] = {"type": self.type}
        if self.description:
            schema["description"] = self.description
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.items is not None:
            schema["items"] = self.items.json_schema()
        if self.properties is not None:
            schema.update(fields_schema(self.properties))
        bounds = {
            "string": ("minLength", "maxLength"),
            "array": ("minItems", "maxItems"),
            "object": ("minProperties", "maxProperties"),
        }.get(self.type, ("minimum", "maximum"))
        for key, value in zip(bounds, (self.min, self.max), strict=True):
            if value is not None:
                schema[key] = int(value) if self.type in ("string", "array", "object") else value
        return schema


def fields_schema(fields: tuple[tuple[str, FieldType], ...]) -> dict[str, Any]:
    """JSON Schema for an object with ``fields``; fields are required unless marked otherwise."""
    return {
        "type": "object",
        "properties": {name: ftype.json_schema() for name, ftype in fields},
        "required": [name for name, ftype in fields if ftype.required],
    }


@dataclass(frozen=True)
class Contract:
    """A named output shape."""

    name: str
    fields: tuple[tuple[str, FieldType], ...]

    def field_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.fields)

    def field(self, name: str) -> FieldType | None:
        return dict(self.fields).get(name)

    def json_schema(self) -> dict[str, Any]:
        return {"title": self.name, **fields_schema(self.fields)} if self.name else {"type": "object"}


#: The contract of a step that declares none (an inline step without ``output_contract``): any object.
ANY_OBJECT = Contract("", ())


@dataclass(frozen=True)
class Budget:
    """Limits on a step or flow.

    ``ms`` is enforced. ``usd`` on a flow is enforced from the usage reported
    with results in version 0.2 (advisory in 0.1); on a function it is advisory.
    """

    ms: int | None = None
    usd: float | None = None


@dataclass(frozen=True)
class Function:
    """What a step does: an intent, typed inputs, an output contract and postconditions.

    A gate (``mode == "gate"``) has no output, ensure or retries; ``timeout`` is
    its seconds before the system kills it. ``output`` is ``""`` for a function
    whose result may be any object.
    """

    name: str
    mode: TypingLiteral["infer", "compute", "gate"]
    intent: str
    input: tuple[tuple[str, FieldType], ...]
    output: str
    ensure: tuple[CompiledExpression, ...]
    retries: int
    budget: Budget | None
    model: str | None
    timeout: int | None = None
    agent: str | None = None


@dataclass(frozen=True)
class Reference:
    """``$.input.<field>...`` or ``$.steps.<id>.output...``; ``path`` walks into the value."""

    text: str
    step: str | None
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class Literal:
    """A constant step input."""

    value: Any


Binding = Reference | Literal


StepKind = TypingLiteral["function", "gate", "flow", "parallel"]


@dataclass(frozen=True)
class Routes:
    """Where a step goes instead of the next one. ``None`` keeps the default; targets are step ids."""

    next: str | None = None
    on_fail: str | None = None
    on_approve: str | None = None
    on_revise: str | None = None
    on_kill: str | None = None


@dataclass(frozen=True)
class Iteration:
    """An iteration loop: at most ``max_iterations`` reports, left when ``exit_criterion`` holds."""

    max_iterations: int
    exit_criterion: CompiledExpression | None
    accumulate: str | None = None
    accumulate_key: str | None = None


@dataclass(frozen=True)
class Template:
    """A checked ``intent_template``: literal text and ``{task.<path>}`` holes, in order."""

    source: str
    parts: tuple[str | tuple[str, ...], ...]


@dataclass(frozen=True)
class Parallel:
    """A fan-out: the tasks at ``source``, each done by the agent and judged against the step's function.

    ``require`` is ``"all"``, ``"any"`` or a count of tasks that must complete.
    """

    source: Reference
    max_concurrent: int
    require: TypingLiteral["all", "any"] | int
    intent_template: Template | None
    isolation: TypingLiteral["none", "worktree"]


@dataclass(frozen=True)
class Step:
    """One step of a flow.

    ``function`` names the step's function (for a parallel step, the function
    each task is judged by; ``""`` when tasks may return any object, and for
    a sub-flow step). ``flow`` names the sub-flow a ``kind == "flow"`` step runs.
    """

    id: str
    function: str
    inputs: tuple[tuple[str, Binding], ...]
    depends_on: tuple[str, ...]
    kind: StepKind = "function"
    flow: str | None = None
    routes: Routes = field(default_factory=Routes)
    skip_if: CompiledExpression | None = None
    skip_reason: str | None = None
    iteration: Iteration | None = None
    parallel: Parallel | None = None


@dataclass(frozen=True)
class Flow:
    """A flow, with ``steps`` in the order they run.

    ``output`` is ``""`` when a 0.2 flow declares none; ``max_rounds`` bounds
    how often the flow may go back to an earlier step.
    """

    name: str
    input: tuple[tuple[str, FieldType], ...]
    output: str
    budget: Budget | None
    steps: tuple[Step, ...]
    max_rounds: int = 3

    def index(self, step_id: str) -> int:
        """The position of ``step_id`` in run order."""
        for position, step in enumerate(self.steps):
            if step.id == step_id:
                return position
        raise KeyError(step_id)


@dataclass(frozen=True)
class Spec:
    """A whole validated spec. ``digest`` is the SHA-256 of its source text."""

    version: str
    digest: str
    contracts: Mapping[str, Contract] = field(repr=False)
    functions: Mapping[str, Function] = field(repr=False)
    flows: Mapping[str, Flow] = field(repr=False)

    def function_of(self, step: Step) -> Function | None:
        """The function a step runs (or judges its tasks by); ``None`` for sub-flows and free-form tasks."""
        return self.functions.get(step.function) if step.function else None

    def contract_of(self, function: Function | None) -> Contract:
        """The contract a function's results must match (:data:`ANY_OBJECT` when it names none)."""
        if function is None or not function.output:
            return ANY_OBJECT
        return self.contracts[function.output]
