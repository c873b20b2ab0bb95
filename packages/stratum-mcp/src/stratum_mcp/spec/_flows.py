"""Build flows: check every step, every reference and route, and put the steps in run order.

Steps run in dependency order: a step runs after every step it references
(``$.steps.<id>.output``) or names in ``depends_on``; steps with no order
between them keep the order they are written in. References are checked
statically: the step must exist in the same flow and not be the step itself,
a field must exist in the referenced contract, and its type must fit the
input it feeds.

From version 0.2 a step is one of four kinds, each with the keys that make
sense for it (:mod:`._steps`): a function step (``function``, or an inline
``intent``), a gate, a sub-flow and a parallel fan-out. Routes are checked in
:mod:`._routes`.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stratum_mcp._limits import Limits
from stratum_mcp._messages import suggest
from stratum_mcp._problems import SpecIssue
from stratum_mcp.spec._build import (
    as_map,
    build_budget,
    build_fields,
    text_or_none,
    value_fits,
)
from stratum_mcp.spec._model import (
    Binding,
    Contract,
    FieldType,
    Flow,
    Function,
    Literal,
    Reference,
    Routes,
    Step,
    StepKind,
)
from stratum_mcp.spec._references import ReferenceSyntaxError, binding_from
from stratum_mcp.spec._routes import check_routes
from stratum_mcp.spec._steps import GATE_ROUTES, StepParts

__all__ = ["GATE_OUTPUT", "PARALLEL_OUTPUT", "build_flows"]

#: What a gate's step output holds: the decision taken, for later steps to read.
GATE_OUTPUT = FieldType("object", properties=(
    ("outcome", FieldType("string")), ("rationale", FieldType("string")), ("resolved_by", FieldType("string")),
))
#: What a parallel step's output holds, whatever its tasks return.
PARALLEL_OUTPUT = FieldType("object", properties=(
    ("tasks", FieldType("array", items=FieldType("object", properties=(
        ("task_id", FieldType("string")), ("status", FieldType("string")), ("output", FieldType("object")),
        ("branch", FieldType("string", required=False)),
    )))),
    ("outputs", FieldType("array", items=FieldType("object"))),
    ("completed", FieldType("integer")),
    ("failed", FieldType("integer")),
))

_ITERATION_KEYS = ("max_iterations", "exit_criterion", "accumulate", "accumulate_key")
_PARALLEL_KEYS = ("source", "max_concurrent", "require", "intent_template", "isolation")
_INLINE_KEYS = ("mode", "output_contract", "ensure", "retries", "budget", "model", "agent")
_DEFAULT_RETRIES = 3


@dataclass(frozen=True)
class _Header:
    """What other flows need to know of a flow before its steps are built: its input and output."""

    input: tuple[tuple[str, FieldType], ...]
    output: str


def build_flows(
    document: Mapping[str, Any],
    contracts: Mapping[str, Contract],
    functions: Mapping[str, Function],
    issues: list[SpecIssue],
    limits: Limits,
) -> tuple[dict[str, Flow], dict[str, Function]]:
    """Every flow, and the functions of inline steps (named ``<flow>.<step>``, which no spec name can be)."""
    raws = {name: raw for name, raw in as_map(document.get("flows")).items() if isinstance(raw, dict)}
    headers = {
        name: _Header(build_fields(raw.get("input"), ["flows", name, "input"], issues),
                      raw["output"] if isinstance(raw.get("output"), str) else "")
        for name, raw in raws.items()
    }
    inline: dict[str, Function] = {}
    version = document.get("version")
    flows = {
        name: _FlowBuilder(name, raw, _Context(contracts, functions, headers, inline, issues, limits, version)).build()
        for name, raw in raws.items()
    }
    _check_subflows(flows, issues, limits)
    return flows, inline


@dataclass(frozen=True)
class _Context:
    contracts: Mapping[str, Contract]
    functions: Mapping[str, Function]
    headers: Mapping[str, _Header]
    inline: dict[str, Function]
    issues: list[SpecIssue]
    limits: Limits
    version: Any


class _FlowBuilder(StepParts):
    def __init__(self, name: str, raw: dict[str, Any], context: _Context) -> None:
        self.name = name
        self.raw = raw
        self.cx = context
        self.contracts = context.contracts
        self.functions_by_name = context.functions
        self.headers = context.headers
        self.inline = context.inline
        self.issues = context.issues
        self.limits = context.limits
        self.path = f"flows.{name}"
        self.input = context.headers[name].input
        raw_steps = raw.get("steps")
        self.raw_steps = [_known_keys(s, context.version) if isinstance(s, dict) else {}
                          for s in (raw_steps if isinstance(raw_steps, list) else [])]
        self.ids = [s.get("id") if isinstance(s.get("id"), str) else None for s in self.raw_steps]
        # Each step's kind and function (named or inline), by position: ids may repeat in an invalid spec.
        self.kinds: list[StepKind] = []
        self.functions: list[Function | None] = []

    def where(self, step_id: str) -> str:
        return f"{self.path}.steps[{self.ids.index(step_id)}]"

    def build(self) -> Flow:
        output = self.raw.get("output")
        if isinstance(output, str) and output not in self.contracts:
            self.issue(f"{self.path}.output", "unknown_contract", f"no contract named `{output}`",
                       suggest(output, self.contracts))
        # Kinds and functions first: a step's references may point at any other step's output.
        for index, raw in enumerate(self.raw_steps):
            kind, function = self.kind_of(index, raw, self.ids[index] or f"#{index}")
            self.kinds.append(kind)
            self.functions.append(function)
        seen: set[str] = set()
        steps: list[Step] = []
        for index, raw in enumerate(self.raw_steps):
            step_id = self.ids[index]
            if step_id is not None and step_id in seen:
                self.issue(f"{self.path}.steps[{index}].id", "duplicate_id", f"step id `{step_id}` is used twice",
                           "give every step of a flow its own id")
            if step_id is not None:
                seen.add(step_id)
            steps.append(self._step(index, raw, step_id or f"#{index}"))
        ordered = self._order(steps)
        output_step = self._check_output(ordered, output if isinstance(output, str) else None)
        if ordered and self.cx.version != "0.1":
            self.issues.extend(check_routes(self.name, ordered, self.where, output_step))
        rounds = self.raw.get("max_rounds")
        return Flow(
            name=self.name,
            input=self.input,
            output=output if isinstance(output, str) else "",
            budget=build_budget(self.raw.get("budget")),
            steps=tuple(ordered),
            max_rounds=min(rounds, self.limits.max_rounds) if isinstance(rounds, int) and rounds > 0
            else self.limits.default_rounds,
        )

    # --- one step --------------------------------------------------------------------------------

    def _step(self, index: int, raw: dict[str, Any], step_id: str) -> Step:
        where = f"{self.path}.steps[{index}]"
        kind = self.kinds[index]
        function = self.functions[index]
        self.misplaced(where, raw, kind)
        declared = self.declared_inputs(kind, raw, function)
        bindings: list[tuple[str, Binding]] = []
        for key, value in as_map(raw.get("inputs")).items():
            binding = self._binding(f"{where}.inputs.{key}", step_id, value, declared.get(key) if declared else None)
            if declared is not None and key not in declared:
                owner = f"flow `{raw.get('flow')}`" if kind == "flow" else f"function `{raw.get('function')}`"
                self.issue(f"{where}.inputs.{key}", "unknown_input", f"{owner} has no input `{key}`",
                           suggest(key, declared))
            if binding is not None:
                bindings.append((key, binding))
        if declared is not None:
            given = {key for key, _ in bindings} | set(as_map(raw.get("inputs")))
            for key, ftype in declared.items():
                if ftype.required and key not in given:
                    owner = f"flow `{raw.get('flow')}`" if kind == "flow" else f"function `{raw.get('function')}`"
                    self.issue(f"{where}.inputs", "missing_input", f"{owner} needs input `{key}`",
                               f"add `{key}: $.input.{key}` or a reference to a step's output")
        depends = []
        depends_on = raw.get("depends_on")
        for position, other in enumerate(depends_on if isinstance(depends_on, list) else []):
            if not isinstance(other, str):
                continue
            self._check_step_ref(f"{where}.depends_on[{position}]", step_id, other)
            depends.append(other)
        parallel = self.parallel(where, step_id, raw) if kind == "parallel" else None
        if parallel is not None and parallel.source.step:
            depends.append(parallel.source.step)  # the tasks come from that step: it runs first
        subflow = raw.get("flow") if kind == "flow" and isinstance(raw.get("flow"), str) else None
        if subflow is not None and subflow not in self.headers:
            self.issue(f"{where}.flow", "unknown_flow", f"the spec has no flow `{subflow}`",
                       suggest(subflow, self.headers))
        elif subflow == self.name:
            self.issue(f"{where}.flow", "cycle", f"flow `{self.name}` runs itself", "a flow cannot run itself")
        return Step(
            id=step_id,
            function=function.name if function is not None else "",
            inputs=tuple(bindings),
            depends_on=tuple(dict.fromkeys(depends)),
            kind=kind,
            flow=subflow,
            # Only the routes the kind of step has: the others are reported as misplaced, not checked twice.
            routes=Routes(**{key: text_or_none(raw.get(key)) for key in
                             (GATE_ROUTES if kind == "gate" else ("next", "on_fail"))}),
            skip_if=self.skip_if(where, raw, declared),
            skip_reason=text_or_none(raw.get("skip_reason")),
            iteration=self.iteration(where, raw, kind, function, declared),
            parallel=parallel,
        )

    # --- references --------------------------------------------------------------------------------

    def _check_step_ref(self, where: str, step_id: str, other: str) -> bool:
        if other == step_id:
            self.issue(where, "not_upstream", f"step `{step_id}` cannot depend on itself",
                       "reference an earlier step, or `$.input`")
            return False
        if other not in self.ids:
            self.issue(where, "unknown_step", f"flow `{self.name}` has no step `{other}`",
                       suggest(other, [i for i in self.ids if i]))
            return False
        return True

    def _binding(self, where: str, step_id: str, value: Any, target: FieldType | None) -> Binding | None:
        try:
            binding = binding_from(value)
        except ReferenceSyntaxError as exc:
            self.issue(where, "bad_reference", str(exc))
            return None
        if isinstance(binding, Literal):
            if target is not None and not value_fits(binding.value, target.type):
                self.issue(where, "type_mismatch", f"literal {str(binding.value)[:40]!r} is not a {target.type}")
            return binding
        self._reference_type(where, step_id, binding, target)
        return binding

    def _reference_type(self, where: str, step_id: str, binding: Reference, target: FieldType | None) -> None:
        if binding.step is None:
            root: FieldType | None = FieldType("object", properties=self.input)
            label = "$.input"
        else:
            if not self._check_step_ref(where, step_id, binding.step):
                return
            root = self._output_type(binding.step)
            label = f"$.steps.{binding.step}.output"
        found = _type_at(root, binding.path, label)
        if isinstance(found, SpecIssue):
            self.issue(where, found.code, found.message, found.suggestion)
        elif found is not None and target is not None and not _fits(found, target):
            self.issue(where, "type_mismatch", f"`{binding.text}` is a {found.type}, but the input is a {target.type}")

    def _output_type(self, step_id: str) -> FieldType | None:
        position = self.ids.index(step_id)
        kind = self.kinds[position]
        if kind == "gate":
            return GATE_OUTPUT
        if kind == "parallel":
            return PARALLEL_OUTPUT
        if kind == "flow":
            subflow = self.raw_steps[position].get("flow")
            header = self.headers.get(subflow) if isinstance(subflow, str) else None
            contract = self.contracts.get(header.output) if header is not None and header.output else None
        else:
            contract = self.contract_of(self.functions[position])
        if contract is None:
            return None
        return FieldType("object", properties=contract.fields if contract.name else None)

    def _produces(self, step: Step) -> str | None:
        """The contract name a step's output has, ``""`` for any object, ``None`` if not known."""
        if step.kind == "parallel":
            return "(a parallel step's task list)"
        if step.kind == "flow":
            header = self.headers.get(step.flow) if step.flow is not None else None
            return header.output if header is not None else None
        function = self.functions[self.ids.index(step.id)]
        return function.output if function is not None else None

    def _check_output(self, ordered: list[Step], output: str | None) -> int | None:
        """Check the step whose output is the flow's; return its position."""
        if not ordered:
            return None
        producers = [position for position, step in enumerate(ordered) if step.kind != "gate"]
        if not producers:
            if output is not None:
                self.issue(f"{self.path}.output", "output_mismatch", f"the flow's output is `{output}`, but only "
                           "gates run in it", "remove `output`, or add a step that returns it")
            return None
        position = producers[-1]
        last = ordered[position]
        if output is None or output not in self.contracts:
            return position
        produced = self._produces(last)
        if produced == "":
            hint = (f"give the inline step `output_contract: {output}`" if last.kind == "function"
                    else f"give flow `{last.flow}` `output: {output}`")
            self.issue(f"{self.path}.output", "output_mismatch", f"the flow's output is `{output}`, but its last "
                       f"step `{last.id}` may return any object", hint)
        elif produced is not None and produced != output:
            self.issue(f"{self.path}.output", "output_mismatch", f"the flow's output is `{output}`, but its last "
                       f"step `{last.id}` returns `{produced}`", "make the last step return the flow's output contract")
        if last.skip_if is not None:
            self.issue(f"{self.where(last.id)}.skip_if", "misplaced_key", f"step `{last.id}` produces the flow's "
                       "output and cannot be skipped", "skip an earlier step, or remove the flow's `output`")
        return position

    def _order(self, steps: list[Step]) -> list[Step]:
        """Stable topological order; a cycle is reported and yields no order."""
        index = {step.id: i for i, step in enumerate(steps)}
        if len(index) < len(steps):
            return []  # duplicate ids, already reported: there is no graph to order
        after: dict[str, set[str]] = {step.id: set() for step in steps}
        for step in steps:
            refs = {b.step for _, b in step.inputs if isinstance(b, Reference) and b.step}
            after[step.id] = {d for d in refs | set(step.depends_on) if d in index and d != step.id}
        waiting = {sid: len(deps) for sid, deps in after.items()}
        ready = [index[sid] for sid, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[Step] = []
        while ready:
            step = steps[heapq.heappop(ready)]
            order.append(step)
            for other, deps in after.items():
                if step.id in deps:
                    waiting[other] -= 1
                    if waiting[other] == 0:
                        heapq.heappush(ready, index[other])
        if len(order) < len(steps):
            cycle = _find_cycle(after, {s.id for s in order})
            self.issue(f"{self.path}.steps", "cycle", f"steps form a cycle: {' -> '.join(cycle)}",
                       "remove one of these references or depends_on entries")
            return []
        return order


_STEP_KEYS_0_1 = frozenset({"id", "function", "description", "inputs", "depends_on"})


def _known_keys(raw: dict[str, Any], version: Any) -> dict[str, Any]:
    # A 0.1 step's newer keys are already reported by the structural check ("needs version 0.2"); building
    # them as well would only repeat that in other words.
    return {k: v for k, v in raw.items() if k in _STEP_KEYS_0_1} if version == "0.1" else raw


def _check_subflows(flows: Mapping[str, Flow], issues: list[SpecIssue], limits: Limits) -> None:
    """Flows that run each other in a circle, and sub-flows nested deeper than the bound."""
    runs = {name: [(i, s.flow) for i, s in enumerate(flow.steps) if s.flow in flows and s.flow != name]
            for name, flow in flows.items()}
    depth: dict[str, int] = {}

    def deepest(name: str, trail: tuple[str, ...]) -> int:
        if name in trail:
            return -1
        if name not in depth:
            below = [deepest(child, (*trail, name)) for _, child in runs[name] if child is not None]
            depth[name] = -1 if -1 in below else 1 + max(below, default=0)
        return depth[name]

    for name in sorted(flows):
        if deepest(name, ()) == -1 and not any(i.code == "cycle" and i.path.startswith(f"flows.{name}.")
                                               for i in issues):
            issues.append(SpecIssue(f"flows.{name}", "cycle", f"flow `{name}` runs itself through its sub-flows",
                                    "a flow cannot run, directly or not, a flow that runs it"))
            return
    for name, value in depth.items():
        if value > limits.subflow_depth:
            issues.append(SpecIssue(f"flows.{name}", "too_deep", f"sub-flows nest {value} levels deep; the limit is "
                                    f"{limits.subflow_depth}"))


def _type_at(root: FieldType | None, path: tuple[str | int, ...], label: str) -> FieldType | SpecIssue | None:
    """The declared type at ``path`` under ``root``, ``None`` if not known, or an issue if it cannot exist."""
    current, shown = root, label
    for part in path:
        if current is None:
            return None
        if isinstance(part, str):
            if current.type != "object":
                return SpecIssue("", "unknown_field", f"`{shown}` is a {current.type}; it has no field `{part}`")
            if current.properties is None:
                return None
            fields = dict(current.properties)
            if part not in fields:
                return SpecIssue("", "unknown_field", f"`{shown}` has no field `{part}`", suggest(part, fields))
            current, shown = fields[part], f"{shown}.{part}"
        else:
            if current.type != "array":
                return SpecIssue("", "unknown_field", f"`{shown}` is a {current.type}; it cannot be indexed")
            current, shown = current.items, f"{shown}[{part}]"
    return current


def _fits(source: FieldType, target: FieldType) -> bool:
    return source.type == target.type or (source.type == "integer" and target.type == "number")


def _find_cycle(after: dict[str, set[str]], done: set[str]) -> list[str]:
    start = next(sid for sid in after if sid not in done)
    trail, current = [start], start
    while True:
        current = min(d for d in after[current] if d not in done)
        if current in trail:
            return [*trail[trail.index(current):], current]
        trail.append(current)
