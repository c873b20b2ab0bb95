"""Build flows: check every step, every reference, and put the steps in run order.

Steps run in dependency order: a step runs after every step it references
(``$.steps.<id>.output``) or names in ``depends_on``; steps with no order
between them keep the order they are written in. References are checked
statically: the step must exist in the same flow and not be the step itself,
a field must exist in the referenced contract, and its type must fit the
function input it feeds.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from stratum_mcp._limits import Limits
from stratum_mcp._messages import suggest
from stratum_mcp._problems import SpecIssue
from stratum_mcp.spec._build import as_map, build_budget, build_fields, value_fits
from stratum_mcp.spec._model import Binding, Contract, FieldType, Flow, Function, Literal, Reference, Step
from stratum_mcp.spec._references import ReferenceSyntaxError, binding_from

__all__ = ["build_flows"]


def build_flows(
    document: Mapping[str, Any],
    contracts: Mapping[str, Contract],
    functions: Mapping[str, Function],
    issues: list[SpecIssue],
    limits: Limits,
) -> dict[str, Flow]:
    flows = {}
    for name, raw in as_map(document.get("flows")).items():
        if isinstance(raw, dict):
            flows[name] = _FlowBuilder(name, raw, contracts, functions, issues).build()
    return flows


class _FlowBuilder:
    def __init__(
        self,
        name: str,
        raw: dict[str, Any],
        contracts: Mapping[str, Contract],
        functions: Mapping[str, Function],
        issues: list[SpecIssue],
    ) -> None:
        self.name = name
        self.raw = raw
        self.contracts = contracts
        self.functions = functions
        self.issues = issues
        self.path = f"flows.{name}"
        self.input = build_fields(raw.get("input"), ["flows", name, "input"], issues)
        raw_steps = raw.get("steps")
        self.raw_steps = [s if isinstance(s, dict) else {} for s in (raw_steps if isinstance(raw_steps, list) else [])]
        self.ids = [s.get("id") if isinstance(s.get("id"), str) else None for s in self.raw_steps]

    def issue(self, where: str, code: str, message: str, hint: str | None = None) -> None:
        self.issues.append(SpecIssue(where, code, message, hint))

    def build(self) -> Flow:
        output = self.raw.get("output")
        if isinstance(output, str) and output not in self.contracts:
            self.issue(f"{self.path}.output", "unknown_contract", f"no contract named `{output}`",
                       suggest(output, self.contracts))
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
        if ordered and isinstance(output, str) and output in self.contracts:
            last = self.functions.get(ordered[-1].function)
            if last is not None and last.output and last.output != output:
                self.issue(f"{self.path}.output", "output_mismatch",
                           f"the flow's output is `{output}`, but its last step `{ordered[-1].id}` returns "
                           f"`{last.output}`", "make the last step return the flow's output contract")
        return Flow(
            name=self.name,
            input=self.input,
            output=output if isinstance(output, str) else "",
            budget=build_budget(self.raw.get("budget")),
            steps=tuple(ordered),
        )

    def _step(self, index: int, raw: dict[str, Any], step_id: str) -> Step:
        where = f"{self.path}.steps[{index}]"
        fname = raw.get("function")
        function = self.functions.get(fname) if isinstance(fname, str) else None
        if isinstance(fname, str) and function is None:
            self.issue(f"{where}.function", "unknown_function", f"no function named `{fname}`",
                       suggest(fname, self.functions))
        declared = dict(function.input) if function is not None else None
        bindings: list[tuple[str, Binding]] = []
        for key, value in as_map(raw.get("inputs")).items():
            binding = self._binding(f"{where}.inputs.{key}", step_id, value, declared.get(key) if declared else None)
            if declared is not None and key not in declared:
                self.issue(f"{where}.inputs.{key}", "unknown_input",
                           f"function `{fname}` has no input `{key}`", suggest(key, declared))
            if binding is not None:
                bindings.append((key, binding))
        if declared is not None:
            given = {key for key, _ in bindings} | set(as_map(raw.get("inputs")))
            for key, ftype in declared.items():
                if ftype.required and key not in given:
                    self.issue(f"{where}.inputs", "missing_input", f"function `{fname}` needs input `{key}`",
                               f"add `{key}: $.input.{key}` or a reference to a step's output")
        depends = []
        depends_on = raw.get("depends_on")
        for position, other in enumerate(depends_on if isinstance(depends_on, list) else []):
            if not isinstance(other, str):
                continue
            self._check_step_ref(f"{where}.depends_on[{position}]", step_id, other)
            depends.append(other)
        return Step(id=step_id, function=fname if isinstance(fname, str) else "", inputs=tuple(bindings),
                    depends_on=tuple(depends))

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
        if binding.step is None:
            root: FieldType | None = FieldType("object", properties=self.input)
            label = "$.input"
        else:
            if not self._check_step_ref(where, step_id, binding.step):
                return binding
            root = self._output_type(binding.step)
            label = f"$.steps.{binding.step}.output"
        found = _type_at(root, binding.path, label)
        if isinstance(found, SpecIssue):
            self.issue(where, found.code, found.message, found.suggestion)
        elif found is not None and target is not None and not _fits(found, target):
            self.issue(where, "type_mismatch", f"`{binding.text}` is a {found.type}, but the input is a {target.type}")
        return binding

    def _output_type(self, step_id: str) -> FieldType | None:
        fname = self.raw_steps[self.ids.index(step_id)].get("function")
        function = self.functions.get(fname) if isinstance(fname, str) else None
        contract = self.contracts.get(function.output) if function is not None else None
        return FieldType("object", properties=contract.fields) if contract is not None else None

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
