"""Routes between the steps of a flow: targets, direction, reachability, and the loops a run may take.

The steps of a flow are in run order. A step moves on to the next one unless
a route says otherwise: ``next`` (after it passes), ``on_fail`` (when it has no
retries left), and for gates ``on_approve``, ``on_revise`` and ``on_kill``.

Only two routes may go back to an earlier step, and each is bounded:
``on_revise`` (a decision, at most ``max_rounds`` times) and ``on_fail`` (only
after a step used all its retries, also counted against ``max_rounds``). Every
other route goes forward, so a loop that nothing bounds (``next`` back to an
earlier step: the steps between would repeat forever) is rejected, and so is a
step that no route reaches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stratum_mcp._messages import suggest
from stratum_mcp._problems import SpecIssue
from stratum_mcp.spec._model import Step

__all__ = ["check_routes"]

#: Route keys that may only go forward, with the code used when one goes back.
_FORWARD = {"next": "unbounded_cycle", "on_approve": "bad_route", "on_kill": "bad_route"}


def check_routes(
    flow: str, steps: Sequence[Step], where: Callable[[str], str], output_step: int | None
) -> list[SpecIssue]:
    """Every problem with the routes of ``steps`` (in run order); ``where(step_id)`` is a step's path.

    ``output_step`` is the position of the step whose output is the flow's,
    which no route may jump over.
    """
    issues: list[SpecIssue] = []
    index = {step.id: position for position, step in enumerate(steps)}
    edges: list[set[int]] = [set() for _ in steps]
    for position, step in enumerate(steps):
        routes = step.routes
        targets = {"next": routes.next, "on_fail": routes.on_fail, "on_approve": routes.on_approve,
                   "on_revise": routes.on_revise, "on_kill": routes.on_kill}
        resolved: dict[str, int] = {}
        for key, target in targets.items():
            if target is None:
                continue
            path = f"{where(step.id)}.{key}"
            if target not in index:
                issues.append(SpecIssue(path, "unknown_step", f"flow `{flow}` has no step `{target}`",
                                        suggest(target, index)))
                continue
            goal = index[target]
            problem = _direction(key, position, goal, step.id, target)
            if problem is not None:
                issues.append(SpecIssue(path, *problem))
                continue
            if output_step is not None and goal > output_step and (position < output_step or key == "on_fail"):
                issues.append(SpecIssue(path, "bad_route", f"`{key}: {target}` jumps over `{steps[output_step].id}`, "
                                        "the step whose output is the flow's output",
                                        "route to a step before it, or to it"))
                continue
            resolved[key] = goal
        after = position + 1
        if step.kind == "gate":
            edges[position].add(resolved.get("on_approve", after))
            edges[position].update(resolved[k] for k in ("on_revise", "on_kill") if k in resolved)
        else:
            edges[position].add(resolved.get("next", after))
            if "on_fail" in resolved:
                edges[position].add(resolved["on_fail"])
    issues.extend(_unreachable(steps, edges, where))
    return issues


def _direction(key: str, position: int, goal: int, step_id: str, target: str) -> tuple[str, str, str | None] | None:
    if key == "on_revise":
        if goal >= position:
            return ("bad_route", f"`on_revise: {target}` must go back to a step before `{step_id}`",
                    "name the step whose work the gate reviews")
        return None
    if key in _FORWARD and goal <= position:
        if key == "next":
            return ("unbounded_cycle", f"`next: {target}` goes back unconditionally: the steps from `{target}` to "
                    f"`{step_id}` would repeat forever",
                    "loop with a gate's `on_revise`, with `on_fail`, or make the step an iteration loop "
                    "(`max_iterations`)")
        return ("bad_route", f"`{key}: {target}` must go forward, to a step after `{step_id}`", None)
    return None


def _unreachable(steps: Sequence[Step], edges: list[set[int]], where: Callable[[str], str]) -> list[SpecIssue]:
    seen, todo = {0}, [0]
    while todo:
        for goal in edges[todo.pop()]:
            if goal < len(steps) and goal not in seen:
                seen.add(goal)
                todo.append(goal)
    return [
        SpecIssue(where(step.id), "unreachable_step", f"no route reaches step `{step.id}`: a `next` jumps over it "
                  "and nothing routes to it", "remove the step, or route to it (`next`, `on_fail`, `on_kill`)")
        for position, step in enumerate(steps)
        if position not in seen
    ]
