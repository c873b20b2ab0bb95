"""What each kind of step may carry, and building those parts: a second half of the flow builder.

A version 0.2 step is a function step (a named ``function``, or an inline
``intent`` whose function is built here), a gate (a function with ``mode:
gate``), a sub-flow (``flow``) or a parallel fan-out (``type:
parallel_dispatch``). :class:`StepParts` decides a step's kind and function,
reports keys that do not apply to it, and builds its ``skip_if``, its
iteration loop and its fan-out; :class:`~._flows._FlowBuilder` puts the steps
together. The two share the builder's state, so this is a base class of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Literal as TypingLiteral

from stratum_mcp._limits import Limits
from stratum_mcp._messages import suggest
from stratum_mcp._problems import SpecIssue
from stratum_mcp.spec._build import (
    as_map,
    build_budget,
    build_retries,
    compile_condition,
    compile_ensure,
    ensure_roots,
    text_or_none,
)
from stratum_mcp.spec._model import (
    ANY_OBJECT,
    Contract,
    FieldType,
    Function,
    Iteration,
    Parallel,
    Reference,
    StepKind,
    Template,
)
from stratum_mcp.spec._references import ReferenceSyntaxError, parse_reference
from stratum_mcp.spec._templates import TemplateSyntaxError, parse_template

__all__ = ["GATE_ROUTES", "StepParts", "step_index"]

ITERATION_KEYS = ("max_iterations", "exit_criterion", "accumulate", "accumulate_key")
PARALLEL_KEYS = ("source", "max_concurrent", "require", "intent_template", "isolation")
GATE_ROUTES = ("on_approve", "on_revise", "on_kill")
INLINE_KEYS = ("mode", "output_contract", "ensure", "retries", "budget", "model", "agent")
_DEFAULT_RETRIES = 3


class StepParts:
    """The kind-specific half of a flow's builder; the other half is :class:`~._flows._FlowBuilder`."""

    name: str
    path: str
    input: tuple[tuple[str, FieldType], ...]
    ids: list[str | None]
    contracts: Mapping[str, Contract]
    functions_by_name: Mapping[str, Function]
    headers: Mapping[str, Any]  # flow name -> what its steps can see of it (its input and output)
    inline: dict[str, Function]
    issues: list[SpecIssue]
    limits: Limits

    def issue(self, where: str, code: str, message: str, hint: str | None = None) -> None:
        self.issues.append(SpecIssue(where, code, message, hint))

    def _reference_type(self, where: str, step_id: str, binding: Reference, target: FieldType | None) -> None:
        raise NotImplementedError  # the flow builder checks references

    def contract_of(self, function: Function | None) -> Contract | None:
        if function is None:
            return None
        if not function.output:
            return ANY_OBJECT
        return self.contracts.get(function.output)

    def kind_of(self, index: int, raw: dict[str, Any], step_id: str) -> tuple[StepKind, Function | None]:
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
            intent = text_or_none(raw.get("intent")) or ""
            if raw.get("mode") == "gate":
                return "gate", self._inline_gate(raw, step_id, intent)
            return "function", self._inline_function(where, raw, step_id, intent)
        name = raw.get("function")
        function = self.functions_by_name.get(name) if isinstance(name, str) else None
        if isinstance(name, str) and function is None:
            self.issue(f"{where}.function", "unknown_function", f"no function named `{name}`",
                       suggest(name, self.functions_by_name))
        for key in INLINE_KEYS:
            if key in raw:
                self.issue(f"{where}.{key}", "misplaced_key", f"`{key}` belongs to the function `{name}`, not the "
                           "step", "move it to the function, or make the step inline (`intent` instead of "
                           "`function`)")
        if function is not None and function.mode == "gate":
            return "gate", function
        return "function", function

    def _inline_gate(self, raw: dict[str, Any], step_id: str, intent: str) -> Function:
        timeout = raw.get("timeout")
        function = Function(
            name=f"{self.name}.{step_id}", mode="gate", intent=intent, input=(), output="", ensure=(), retries=0,
            budget=None, model=None,
            timeout=min(timeout, self.limits.gate_timeout_seconds) if isinstance(timeout, int) and timeout > 0
            else None,
        )
        self.inline[function.name] = function
        return function

    def _task_function(self, where: str, raw: dict[str, Any], step_id: str) -> Function | None:
        name = raw.get("function")
        if name is None:
            template = text_or_none(raw.get("intent_template")) or "Do the task described in `inputs.task`."
            return self._inline_function(where, raw, step_id, template)
        function = self.functions_by_name.get(name) if isinstance(name, str) else None
        if isinstance(name, str) and function is None:
            self.issue(f"{where}.function", "unknown_function", f"no function named `{name}`",
                       suggest(name, self.functions_by_name))
        for key in INLINE_KEYS:
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
        path: list[str | int] = [*self.path.split("."), "steps", step_index(where), "ensure"]
        ensure = compile_ensure(raw.get("ensure"), path, ensure_roots(contract, declared), self.issues,
                                self.limits)
        function = Function(
            name=f"{self.name}.{step_id}",
            mode=raw["mode"] if raw.get("mode") in ("infer", "compute") else "infer",
            intent=intent,
            input=(),
            output=contract_name if isinstance(contract_name, str) and contract is not None else "",
            ensure=ensure,
            retries=build_retries(raw.get("retries", _DEFAULT_RETRIES), self.limits),
            budget=build_budget(raw.get("budget")),
            model=text_or_none(raw.get("model")),
            agent=text_or_none(raw.get("agent")),
        )
        self.inline[function.name] = function
        return function

    def misplaced(self, where: str, raw: dict[str, Any], kind: StepKind) -> None:
        refused: dict[str, str] = {}
        if kind != "gate":
            refused.update({key: "only gates have it" for key in GATE_ROUTES})
        if kind != "parallel":
            refused.update({key: "only parallel steps (`type: parallel_dispatch`) have it" for key in PARALLEL_KEYS})
        if kind == "gate":
            refused.update({key: "a gate is decided, not done" for key in
                            ("next", "on_fail", "skip_if", "skip_reason", *ITERATION_KEYS)})
            if "intent" in raw:  # a named gate function's keys are already refused as belonging to it
                refused.update({key: "a gate has no result to judge" for key in INLINE_KEYS if key != "mode"})
        if "timeout" in raw and not (kind == "gate" and "intent" in raw):
            refused["timeout"] = "only an inline gate (`intent` with `mode: gate`) has it; a gate function has its own"
        if kind in ("flow", "parallel"):
            refused.update({key: f"a {'sub-flow' if kind == 'flow' else 'parallel'} step cannot loop"
                            for key in ITERATION_KEYS})
        if kind == "flow":
            refused.update({key: "a sub-flow step takes its function from the flow it runs" for key in INLINE_KEYS})
        if kind == "function" and "max_iterations" not in raw:
            refused.update({key: "it needs `max_iterations`" for key in ITERATION_KEYS[1:]})
        if "accumulate_key" in raw and "accumulate" not in raw:
            refused.setdefault("accumulate_key", "it needs `accumulate`")
        if "skip_reason" in raw and "skip_if" not in raw:
            refused.setdefault("skip_reason", "it needs `skip_if`")
        for key in raw:
            if key in refused:
                self.issue(f"{where}.{key}", "misplaced_key", f"`{key}` does not apply here: {refused[key]}")

    def declared_inputs(
        self, kind: StepKind, raw: dict[str, Any], function: Function | None
    ) -> dict[str, FieldType] | None:
        """The inputs the step must bind, with their types; ``None`` when any inputs are accepted."""
        if kind == "flow":
            subflow = raw.get("flow")
            header = self.headers.get(subflow) if isinstance(subflow, str) else None
            return dict(header.input) if header is not None else None
        if function is None or function.name == f"{self.name}.{raw.get('id')}":
            return None  # an inline step (or an unknown function, already reported) takes any inputs
        declared = dict(function.input)
        if kind == "parallel":
            declared.pop("task", None)  # each task is bound by the server
        return declared

    def skip_if(self, where: str, raw: dict[str, Any], declared: dict[str, FieldType] | None) -> Any:
        if "skip_if" not in raw:
            return None
        roots = {
            "input": frozenset(name for name, _ in self.input),
            "steps": frozenset(i for i in self.ids if i),
            "inputs": frozenset(declared) if declared is not None else None,
        }
        return compile_condition(raw["skip_if"], [*self.path.split("."), "steps", step_index(where), "skip_if"], roots,
                                 self.issues, self.limits)

    def iteration(self, where: str, raw: dict[str, Any], kind: StepKind, function: Function | None,
                   declared: dict[str, FieldType] | None) -> Iteration | None:
        maximum = raw.get("max_iterations")
        if not isinstance(maximum, int) or kind != "function":
            return None
        if maximum > self.limits.max_iterations:
            self.issue(f"{where}.max_iterations", "bad_value",
                       f"{maximum} iterations; the limit is {self.limits.max_iterations}")
        contract = self.contract_of(function)
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
                                      [*self.path.split("."), "steps", step_index(where), "exit_criterion"], roots,
                                      self.issues, self.limits)
        return Iteration(max_iterations=min(maximum, self.limits.max_iterations), exit_criterion=criterion,
                         accumulate=accumulate, accumulate_key=text_or_none(raw.get("accumulate_key")))

    def parallel(self, where: str, step_id: str, raw: dict[str, Any]) -> Parallel | None:
        limits = self.limits
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



def step_index(where: str) -> int:
    """The step's position in a path such as ``flows.main.steps[3]``."""
    return int(where.rsplit("[", 1)[1].rstrip("]"))
