"""Build flows: check every step, every reference and route, and put the steps in run order.

Steps run in dependency order: a step runs after every step it references
(``$.steps.<id>.output``) or names in ``depends_on``; steps with no order
between them keep the order they are written in. References are checked
statically: the step must exist in the same flow and not be the step itself,
a field must exist in the referenced contract, and its type must fit the
input it feeds.

From version 0.2 a step is one of four kinds, each with the keys that make
sense for it: a function step (``function``, or an inline ``intent``), a gate
(a function with ``mode: gate``), a sub-flow (``flow``) and a parallel
fan-out (``type: parallel_dispatch``). Routes are checked in :mod:`._routes`.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Literal as TypingLiteral

from stratum_mcp._limits import Limits
from stratum_mcp._messages import suggest
from stratum_mcp._problems import SpecIssue
from stratum_mcp.spec._build import (
    as_map,
    build_budget,
    build_fields,
    build_retries,
    compile_condition,
    compile_ensure,
    ensure_roots,
    text_or_none,
    value_fits,
)
from stratum_mcp.spec._model import (
    ANY_OBJECT,
    Binding,
    Contract,
    FieldType,
    Flow,
    Function,
    Iteration,
    Literal,
    Parallel,
    Reference,
    Routes,
    Step,
    StepKind,
    Template,
)
from stratum_mcp.spec._references import ReferenceSyntaxError, binding_from, parse_reference
from stratum_mcp.spec._routes import check_routes
from stratum_mcp.spec._templates import TemplateSyntaxError, parse_template

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
_GATE_ROUTES = ("on_approve", "on_revise", "on_kill")
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


class _FlowBuilder:
    def __init__(self, name: str, raw: dict[str, Any], context: _Context) -> None:
        self.name = name
        self.raw = raw
        self.cx = context
        self.contracts = context.contracts
        self.path = f"flows.{name}"
        self.input = context.headers[name].input
        raw_steps = raw.get("steps")
        self.raw_steps = [_known_keys(s, context.version) if isinstance(s, dict) else {}
                          for s in (raw_steps if isinstance(raw_steps, list) else [])]
        self.ids = [s.get("id") if isinstance(s.get("id"), str) else None for s in self.raw_steps]
        # Each step's kind and function (named or inline), by position: ids may repeat in an invalid spec.
        self.kinds: list[StepKind] = []
        self.functions: list[Function | None] = []

    def issue(self, where: str, code: str, message: str, hint: str | None = None) -> None:
        self.cx.issues.append(SpecIssue(where, code, message, hint))

    def where(self, step_id: str) -> str:
        return f"{self.path}.steps[{self.ids.index(step_id)}]"

    def build(self) -> Flow:
        output = self.raw.get("output")
        if isinstance(output, str) and output not in self.contracts:
            self.issue(f"{self.path}.output", "unknown_contract", f"no contract named `{output}`",
                       suggest(output, self.contracts))
        # Kinds and functions first: a step's references may point at any other step's output.
        for index, raw in enumerate(self.raw_steps):
            kind, function = self._kind(index, raw, self.ids[index] or f"#{index}")
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
            self.cx.issues.extend(check_routes(self.name, ordered, self.where, output_step))
        rounds = self.raw.get("max_rounds")
        return Flow(
            name=self.name,
            input=self.input,
            output=output if isinstance(output, str) else "",
            budget=build_budget(self.raw.get("budget")),
            steps=tuple(ordered),
            max_rounds=min(rounds, self.cx.limits.max_rounds) if isinstance(rounds, int) and rounds > 0
            else self.cx.limits.default_rounds,
        )

    # --- kinds and functions ---------------------------------------------------------------------

    def _kind(self, index: int, raw: dict[str, Any], step_id: str) -> tuple[StepKind, Function | None]:
        where = f"{self.path}.steps[{index}]"
        present = [key for key in ("function", "flow", "intent") if key in raw]
        if raw.get("type") == "parallel_dispatch":
            for key in ("flow", "intent"):
                if key in raw:
                    self.issue(f"{where}.{key}", "misplaced_key", f"a parallel step cannot have `{key}`",
                               "give each task's intent as `intent_template`")
            if "source" not in raw:
                self.issue(f"{where}.source", "missing_key", "a parallel step needs `source`, the list of tasks",
                           "e.g. `source: $.steps.plan.output.tasks`")
            return "parallel", self._task_function(where, raw, step_id)
        if len(present) > 1:
            self.issue(f"{where}.{present[1]}", "conflicting_keys",
                       f"a step has one of `function`, `flow` or `intent`, not `{present[0]}` and `{present[1]}`")
        if not present:
            self.issue(f"{where}.function", "missing_key", "missing required key `function`",
                       "give the step a `function`, a `flow` to run, or an inline `intent`")
            return "function", None
        declared = raw.get("type")
        kind: StepKind = "flow" if present[0] == "flow" else "function"
        if declared is not None and declared != kind:
            self.issue(f"{where}.type", "conflicting_keys", f"`type: {declared}` does not match a step with "
                       f"`{present[0]}`", f"remove `type`, or write `type: {kind}`")
        if present[0] == "flow":
            return "flow", None
        if present[0] == "intent":
            return "function", self._inline_function(where, raw, step_id, text_or_none(raw.get("intent")) or "")
        name = raw.get("function")
        function = self.cx.functions.get(name) if isinstance(name, str) else None
        if isinstance(name, str) and function is None:
            self.issue(f"{where}.function", "unknown_function", f"no function named `{name}`",
                       suggest(name, self.cx.functions))
        for key in _INLINE_KEYS:
            if key in raw:
                self.issue(f"{where}.{key}", "misplaced_key", f"`{key}` belongs to the function `{name}`, not the "
                           "step", "move it to the function, or make the step inline (`intent` instead of "
                           "`function`)")
        if function is not None and function.mode == "gate":
            return "gate", function
        return "function", function

    def _task_function(self, where: str, raw: dict[str, Any], step_id: str) -> Function | None:
        name = raw.get("function")
        if name is None:
            template = text_or_none(raw.get("intent_template")) or "Do the task described in `inputs.task`."
            return self._inline_function(where, raw, step_id, template)
        function = self.cx.functions.get(name) if isinstance(name, str) else None
        if isinstance(name, str) and function is None:
            self.issue(f"{where}.function", "unknown_function", f"no function named `{name}`",
                       suggest(name, self.cx.functions))
        for key in _INLINE_KEYS:
            if key in raw:
                self.issue(f"{where}.{key}", "misplaced_key", f"`{key}` belongs to the function `{name}`, not the "
                           "step", "move it to the function, or leave `function` out to judge tasks inline")
        if function is not None and function.mode == "gate":
            self.issue(f"{where}.function", "bad_value", f"`{name}` is a gate; parallel tasks are done by an agent",
                       "name an infer or compute function")
            return None
        return function

    def _inline_function(self, where: str, raw: dict[str, Any], step_id: str, intent: str) -> Function:
        contract_name = raw.get("output_contract")
        contract: Contract | None = ANY_OBJECT
        if isinstance(contract_name, str):
            contract = self.contracts.get(contract_name)
            if contract is None:
                self.issue(f"{where}.output_contract", "unknown_contract", f"no contract named `{contract_name}`",
                           suggest(contract_name, self.contracts))
        declared = frozenset(as_map(raw.get("inputs")))
        if raw.get("type") == "parallel_dispatch":
            declared |= {"task"}
        path: list[str | int] = [*self.path.split("."), "steps", int(where.rsplit("[", 1)[1][:-1]), "ensure"]
        ensure = compile_ensure(raw.get("ensure"), path, ensure_roots(contract, declared), self.cx.issues,
                                self.cx.limits)
        function = Function(
            name=f"{self.name}.{step_id}",
            mode=raw["mode"] if raw.get("mode") in ("infer", "compute") else "infer",
            intent=intent,
            input=(),
            output=contract_name if isinstance(contract_name, str) and contract is not None else "",
            ensure=ensure,
            retries=build_retries(raw.get("retries", _DEFAULT_RETRIES), self.cx.limits),
            budget=build_budget(raw.get("budget")),
            model=text_or_none(raw.get("model")),
            agent=text_or_none(raw.get("agent")),
        )
        self.cx.inline[function.name] = function
        return function

    # --- one step --------------------------------------------------------------------------------

    def _step(self, index: int, raw: dict[str, Any], step_id: str) -> Step:
        where = f"{self.path}.steps[{index}]"
        kind = self.kinds[index]
        function = self.functions[index]
        self._misplaced(where, raw, kind)
        declared = self._declared_inputs(kind, raw, function)
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
        parallel = self._parallel(where, step_id, raw) if kind == "parallel" else None
        if parallel is not None and parallel.source.step:
            depends.append(parallel.source.step)  # the tasks come from that step: it runs first
        subflow = raw.get("flow") if kind == "flow" and isinstance(raw.get("flow"), str) else None
        if subflow is not None and subflow not in self.cx.headers:
            self.issue(f"{where}.flow", "unknown_flow", f"the spec has no flow `{subflow}`",
                       suggest(subflow, self.cx.headers))
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
                             (_GATE_ROUTES if kind == "gate" else ("next", "on_fail"))}),
            skip_if=self._skip_if(where, raw, declared),
            skip_reason=text_or_none(raw.get("skip_reason")),
            iteration=self._iteration(where, raw, kind, function, declared),
            parallel=parallel,
        )

    def _misplaced(self, where: str, raw: dict[str, Any], kind: StepKind) -> None:
        refused: dict[str, str] = {}
        if kind != "gate":
            refused.update({key: "only gates have it" for key in _GATE_ROUTES})
        if kind != "parallel":
            refused.update({key: "only parallel steps (`type: parallel_dispatch`) have it" for key in _PARALLEL_KEYS})
        if kind == "gate":
            refused.update({key: "a gate is decided, not done" for key in
                            ("next", "on_fail", "skip_if", "skip_reason", *_ITERATION_KEYS)})
        if kind in ("flow", "parallel"):
            refused.update({key: f"a {'sub-flow' if kind == 'flow' else 'parallel'} step cannot loop"
                            for key in _ITERATION_KEYS})
        if kind == "flow":
            refused.update({key: "a sub-flow step takes its function from the flow it runs" for key in _INLINE_KEYS})
        if kind == "function" and "max_iterations" not in raw:
            refused.update({key: "it needs `max_iterations`" for key in _ITERATION_KEYS[1:]})
        if "accumulate_key" in raw and "accumulate" not in raw:
            refused.setdefault("accumulate_key", "it needs `accumulate`")
        if "skip_reason" in raw and "skip_if" not in raw:
            refused.setdefault("skip_reason", "it needs `skip_if`")
        for key in raw:
            if key in refused:
                self.issue(f"{where}.{key}", "misplaced_key", f"`{key}` does not apply here: {refused[key]}")

    def _declared_inputs(
        self, kind: StepKind, raw: dict[str, Any], function: Function | None
    ) -> dict[str, FieldType] | None:
        """The inputs the step must bind, with their types; ``None`` when any inputs are accepted."""
        if kind == "flow":
            subflow = raw.get("flow")
            header = self.cx.headers.get(subflow) if isinstance(subflow, str) else None
            return dict(header.input) if header is not None else None
        if function is None or function.name == f"{self.name}.{raw.get('id')}":
            return None  # an inline step (or an unknown function, already reported) takes any inputs
        declared = dict(function.input)
        if kind == "parallel":
            declared.pop("task", None)  # each task is bound by the server
        return declared

    def _skip_if(self, where: str, raw: dict[str, Any], declared: dict[str, FieldType] | None) -> Any:
        if "skip_if" not in raw:
            return None
        roots = {
            "input": frozenset(name for name, _ in self.input),
            "steps": frozenset(i for i in self.ids if i),
            "inputs": frozenset(declared) if declared is not None else None,
        }
        return compile_condition(raw["skip_if"], [*self.path.split("."), "steps", _index(where), "skip_if"], roots,
                                 self.cx.issues, self.cx.limits)

    def _iteration(self, where: str, raw: dict[str, Any], kind: StepKind, function: Function | None,
                   declared: dict[str, FieldType] | None) -> Iteration | None:
        maximum = raw.get("max_iterations")
        if not isinstance(maximum, int) or kind != "function":
            return None
        if maximum > self.cx.limits.max_iterations:
            self.issue(f"{where}.max_iterations", "bad_value",
                       f"{maximum} iterations; the limit is {self.cx.limits.max_iterations}")
        contract = self._contract_of(function)
        accumulate = text_or_none(raw.get("accumulate"))
        if accumulate is not None and contract is not None and contract.name:
            field = contract.field(accumulate)
            if field is None:
                self.issue(f"{where}.accumulate", "unknown_field", f"`{contract.name}` has no field `{accumulate}`",
                           suggest(accumulate, contract.field_names()))
            elif field.type != "array":
                self.issue(f"{where}.accumulate", "type_mismatch",
                           f"`{accumulate}` is a {field.type}; only an array's items can be accumulated")
        roots = {
            **ensure_roots(contract, frozenset(declared) if declared is not None else None),
            "iteration": None, "accumulated": None, "new_count": None, "dry_streak": None,
        }
        criterion = compile_condition(raw.get("exit_criterion"),
                                      [*self.path.split("."), "steps", _index(where), "exit_criterion"], roots,
                                      self.cx.issues, self.cx.limits)
        return Iteration(max_iterations=min(maximum, self.cx.limits.max_iterations), exit_criterion=criterion,
                         accumulate=accumulate, accumulate_key=text_or_none(raw.get("accumulate_key")))

    def _parallel(self, where: str, step_id: str, raw: dict[str, Any]) -> Parallel | None:
        limits = self.cx.limits
        source: Reference | None = None
        raw_source = raw.get("source")
        if isinstance(raw_source, str):
            try:
                source = parse_reference(raw_source)
            except ReferenceSyntaxError as exc:
                self.issue(f"{where}.source", "bad_reference", str(exc))
            if source is not None:
                self._reference_type(f"{where}.source", step_id, source, FieldType("array"))
        template: Template | None = None
        if isinstance(raw.get("intent_template"), str):
            try:
                template = parse_template(raw["intent_template"])
            except TemplateSyntaxError as exc:
                self.issue(f"{where}.intent_template", "bad_template", str(exc))
        isolation: TypingLiteral["none", "worktree"] = "worktree" if raw.get("isolation") == "worktree" else "none"
        concurrent = raw.get("max_concurrent", limits.default_concurrent)
        bound = limits.max_concurrent
        if isolation == "worktree":
            bound = min(bound, limits.worktrees_per_run)
        if isinstance(concurrent, int) and concurrent > bound:
            self.issue(f"{where}.max_concurrent", "bad_value", f"{concurrent} tasks at once; the limit is {bound}")
        require = raw.get("require", "all")
        if isinstance(require, int) and not isinstance(require, bool) and require > limits.parallel_tasks:
            self.issue(f"{where}.require", "bad_value", f"{require} tasks; a step has at most {limits.parallel_tasks}")
        if source is None:
            return None
        return Parallel(
            source=source,
            max_concurrent=min(concurrent, bound) if isinstance(concurrent, int) and concurrent > 0 else bound,
            require=require if require in ("all", "any") or (isinstance(require, int) and require > 0) else "all",
            intent_template=template,
            isolation=isolation,
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

    def _contract_of(self, function: Function | None) -> Contract | None:
        if function is None:
            return None
        if not function.output:
            return ANY_OBJECT
        return self.contracts.get(function.output)

    def _output_type(self, step_id: str) -> FieldType | None:
        position = self.ids.index(step_id)
        kind = self.kinds[position]
        if kind == "gate":
            return GATE_OUTPUT
        if kind == "parallel":
            return PARALLEL_OUTPUT
        if kind == "flow":
            subflow = self.raw_steps[position].get("flow")
            header = self.cx.headers.get(subflow) if isinstance(subflow, str) else None
            contract = self.contracts.get(header.output) if header is not None and header.output else None
        else:
            contract = self._contract_of(self.functions[position])
        if contract is None:
            return None
        return FieldType("object", properties=contract.fields if contract.name else None)

    def _produces(self, step: Step) -> str | None:
        """The contract name a step's output has, ``""`` for any object, ``None`` if not known."""
        if step.kind == "parallel":
            return "(a parallel step's task list)"
        if step.kind == "flow":
            header = self.cx.headers.get(step.flow) if step.flow is not None else None
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


def _index(where: str) -> int:
    return int(where.rsplit("[", 1)[1].rstrip("]"))


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
