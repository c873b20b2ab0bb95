"""``stratum.debate``: agents argue over rounds, a synthesizer resolves.

1. Every agent is called concurrently with ``topic``.
2. In each further round, every agent is called with ``topic`` and the
   other agents' arguments from the previous round, as the keyword
   ``previous_arguments`` (configurable) that the agent declares.
3. After every round the runtime checks whether the agents agree: on their
   ``agree_on`` field when one is declared (``@infer(agree_on=...)`` on the
   agents, or ``debate(agree_on=...)``), else on their whole outputs.
   ``converged`` is whether they agree after the last round.
4. ``synthesize(topic=..., arguments=<outputs by round>, converged=...)``
   returns the final typed result.

::

    @infer(intent="Argue for your position on the topic", agree_on="position")
    def optimist(topic: str, previous_arguments: opaque[list[Argument]] = ()) -> Argument: ...

    @infer(intent="Weigh the arguments and resolve the question")
    def judge(topic: str, arguments: opaque[list[list[Argument]]], converged: bool) -> Verdict: ...

    verdict = await stratum.debate([optimist, skeptic], topic, rounds=2, synthesize=judge)

A synthesizer contract with ``resolution_type: Literal["consensus",
"disagreement", "partial"]`` lets the caller route a disagreement (to a
human review, for instance) with an ordinary ``if``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._core.branches import gather_all
from .._json import canonical_hash, canonical_json, json_value

__all__ = ["debate"]

Agent = Callable[..., Awaitable[Any]]


async def debate(
    agents: Sequence[Agent],
    topic: Any,
    rounds: int = 2,
    *,
    synthesize: Agent,
    agree_on: str | None = None,
    arguments_param: str = "previous_arguments",
) -> Any:
    """Run a debate between ``agents`` and return ``synthesize``'s result.

    Agents and the synthesizer are @infer functions or any async callables
    taking keywords. In round one there are no previous arguments: the
    keyword is left out when the agent gives it a default, else an empty
    list is passed. An agent that fails stops the debate (the others in that
    round are cancelled) and its error is raised.

    >>> # verdict = await stratum.debate([optimist, skeptic], "Ship on Friday?", synthesize=judge)
    """
    agents = list(agents)
    if len(agents) < 2 or not all(callable(a) for a in agents):
        raise ValueError(f"debate(): needs at least two callable agents, got {agents!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"debate(): rounds must be an int >= 1, got {rounds!r}")
    first_round = [_first_round_kwargs(agent, topic, param=arguments_param, more_rounds=rounds > 1) for agent in agents]
    _check_call(synthesize, "synthesize", {"topic": topic, "arguments": [], "converged": False})
    field = _agree_on(agents, agree_on)

    history: list[list[Any]] = []
    converged = False
    for number in range(rounds):
        if number == 0:
            calls = [agent(**kwargs) for agent, kwargs in zip(agents, first_round, strict=True)]
        else:
            previous = history[-1]
            calls = [
                agent(topic=topic, **{arguments_param: previous[:i] + previous[i + 1 :]})
                for i, agent in enumerate(agents)
            ]
        outputs = await gather_all(calls)
        history.append(outputs)
        converged = len({_position(out, field) for out in outputs}) == 1
    return await synthesize(topic=topic, arguments=history, converged=converged)


def _first_round_kwargs(agent: Agent, topic: Any, *, param: str, more_rounds: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"topic": topic}
    if more_rounds:
        _check_call(agent, "agent", {"topic": topic, param: []})
        declared = _signature(agent)
        own = declared.parameters.get(param) if declared else None
        if own is not None and own.default is inspect.Parameter.empty:
            kwargs[param] = []
    else:
        _check_call(agent, "agent", kwargs)
    return kwargs


def _signature(fn: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return None


def _check_call(fn: Any, role: str, kwargs: dict[str, Any]) -> None:
    """Fail before any model is called if ``fn`` cannot take these keywords."""
    if not callable(fn):
        raise TypeError(f"debate(): {role} must be callable, got {fn!r}")
    declared = _signature(fn)
    if declared is None:
        return
    try:
        declared.bind(**kwargs)
    except TypeError as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise TypeError(f"debate(): {role} {name} must accept the keywords {sorted(kwargs)}: {exc}") from None


def _agree_on(agents: list[Agent], explicit: str | None) -> str | None:
    if explicit is not None:
        return explicit
    named = (getattr(getattr(a, "spec", None), "agree_on", None) for a in agents)
    declared = {name for name in named if isinstance(name, str)}
    if len(declared) > 1:
        raise ValueError(f"debate(): the agents declare different agree_on fields {sorted(declared)}; pass agree_on=")
    return declared.pop() if declared else None


def _position(output: Any, field: str | None) -> str:
    """What two agents must share to agree: the field's value, or the whole output's hash."""
    if field is None:
        return canonical_hash(json_value(output))
    value = output.get(field, _MISSING) if isinstance(output, dict) else getattr(output, field, _MISSING)
    if value is _MISSING:
        raise ValueError(f"debate(): agree_on={field!r} is not a field of the agent output {output!r}")
    return canonical_json(json_value(value))


_MISSING = object()

