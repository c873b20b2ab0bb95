"""What calling an @infer function runs: the one place that decides how a call runs.

::

    stable=False (or test mode)  ->  sampled: Probabilistic[T] over N calls (N = sample_n in test mode, else 1)
    quorum=N                     ->  N full @infer loops and a vote            (stratum._core.quorum)
    otherwise                    ->  one @infer loop                           (stratum._core.executor)

``InferFunction.__call__`` asks ``start``; ``run_once`` is "one logical call"
(a quorum when declared, else one loop), which sampling and ``@refine``
repeat. Quorum and sampling load on first use, so ``import stratum`` stays
core-only.

``stable=False``: an @infer result as a distribution. An
``@infer(stable=False)`` function returns ``Probabilistic[T]`` instead of
``T``. In normal operation it holds the one output of one call (no extra
cost). Under ``configure(test_mode=True, sample_n=N)`` the call is made N
times concurrently, so a test can measure how often the model agrees with
itself::

    @infer(intent="Classify the tone", stable=False)
    def classify(text: str) -> Sentiment: ...

    stratum.configure(test_mode=True, sample_n=5)
    result = await classify(text="Fine, I guess.")
    result.most_likely()                 # the modal Sentiment
    result.assert_stable(threshold=0.8)  # StabilityAssertionError below 80 %

Two outputs agree when the contract's ``agree_on`` field is equal (if the
function declares one); else when every enum, ``Literal`` and ``bool`` field
is equal; else when the whole outputs are equal.

In test mode a ``stable=True`` function is an unchecked claim: its first call
warns (``StratumWarning``, once per function) unless its stability was
sampled with ``Probabilistic.collect``.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
import typing
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar, get_args, get_origin

from .._json import canonical_json, json_value
from .._observability.records import TraceRecord, store
from .._once import Once
from ..exceptions import StabilityAssertionError, StratumWarning
from .budget import Envelope
from .config import get_config
from .executor import execute
from .spec import InferSpec

__all__ = ["InferFunction", "Probabilistic", "run_once", "start", "warn_if_unsampled"]

T = TypeVar("T")

Sink = Callable[[TraceRecord], None]

# Functions whose stability was sampled, and those warned about: reset_defaults() forgets both.
_sampled = Once(limit=1 << 16)
_warned = Once(limit=1 << 16)


class InferFunction:
    """An @infer function. Calling it returns a coroutine; ``spec`` describes it.

    ``spec`` is built at decoration, or, when an annotation names a class
    defined later in the module, on first use (the first call, or anything
    that reads ``spec``); a name that is still undefined then raises
    ``StratumCompileError``.
    """

    spec: InferSpec

    def __init__(self, fn: Callable[..., Any], spec: InferSpec | Callable[[], InferSpec]) -> None:
        functools.update_wrapper(self, fn)
        if isinstance(spec, InferSpec):
            self.spec = spec
            self.__signature__ = spec.signature
        else:
            self._build = spec
            self.__signature__ = inspect.signature(fn)

    def __getattr__(self, name: str) -> Any:
        # Only reached while `spec` is not built yet (an attribute that exists never comes here).
        build = self.__dict__.get("_build")
        if name != "spec" or build is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        spec = build()
        self.spec = spec
        del self._build
        return spec

    def __call__(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        return start(self.spec, args, kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        # Used as a method: bind like a function would, without `self` in the prompt.
        return self if instance is None else functools.partial(self, instance)

    def __repr__(self) -> str:
        spec = self.__dict__.get("spec")
        return f"<infer {spec.qualname} -> {spec.output.name}>" if spec else f"<infer {self.__qualname__}>"


def start(spec: InferSpec, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Coroutine[Any, Any, Any]:
    """The coroutine one call of ``spec`` runs: single, quorum or sampled (see the module docstring)."""
    cfg = get_config()
    if spec.stable and spec.quorum is None and not cfg.test_mode:
        return execute(spec, args, kwargs)  # the common case, with nothing in between
    if spec.stable:
        if cfg.test_mode:
            warn_if_unsampled(spec, stacklevel=4)
        return run_once(spec, args, kwargs)
    return _distribution(spec, args, kwargs, n=cfg.sample_n if cfg.test_mode else 1)


def run_once(
    spec: InferSpec,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    refine_feedback: str | None = None,
    envelope: Envelope | None = None,
    record_sink: Sink | None = None,
) -> Coroutine[Any, Any, Any]:
    """One logical call of ``spec``: a quorum when it declares one, else a single @infer loop."""
    if spec.quorum is None:
        return execute(spec, args, kwargs, refine_feedback=refine_feedback, envelope=envelope, record_sink=record_sink)
    from .quorum import run_quorum  # deferred: quorum and the branch engine load on first use

    return run_quorum(spec, args, kwargs, refine_feedback=refine_feedback, envelope=envelope, record_sink=record_sink)


@dataclass(frozen=True, slots=True)
class Probabilistic(Generic[T]):
    """Sampled outputs of one call. ``compared[i]`` is what agreement looks at in ``samples[i]``.

    >>> p = Probabilistic("classify", ("positive", "positive", "negative"))
    >>> p.most_likely(), round(p.agreement, 2), p.distinct
    ('positive', 0.67, ('positive', 'negative'))
    """

    function: str
    samples: tuple[T, ...]
    compared: tuple[Any, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("Probabilistic needs at least one sample")
        if not self.compared:
            object.__setattr__(self, "compared", tuple(json_value(s) for s in self.samples))
        elif len(self.compared) != len(self.samples):
            raise ValueError("Probabilistic: compared must have one entry per sample")

    @classmethod
    async def collect(cls, fn: Any, /, *args: Any, **kwargs: Any) -> Probabilistic[Any]:
        """Call the @infer function ``fn`` ``sample_n`` times concurrently, in any mode.

        This is how a ``stable=True`` function's claim is checked; afterwards
        its calls in test mode no longer warn.

        >>> # result = await Probabilistic.collect(classify, text="hi")
        >>> # result.assert_stable(0.9)
        """
        if not isinstance(fn, InferFunction):
            raise TypeError(f"Probabilistic.collect() needs an @infer function, got {fn!r}")
        return await _distribution(fn.spec, args, kwargs, n=get_config().sample_n)

    def most_likely(self) -> T:
        """The first sample holding the most frequent value (ties: the value seen first)."""
        modal = self._tally()[0][0]
        return next(s for s, key in zip(self.samples, self._keys(), strict=True) if key == modal)

    def sample(self) -> T:
        """One of the samples, drawn uniformly at random."""
        import random  # deferred: only sampling needs it

        return random.choice(self.samples)

    @property
    def agreement(self) -> float:
        """The share of samples holding the most frequent value (1.0 for a single sample)."""
        return self._tally()[0][1] / len(self.samples)

    @property
    def distinct(self) -> tuple[Any, ...]:
        """The distinct compared values, most frequent first."""
        first = dict(zip(self._keys(), self.compared, strict=True))
        return tuple(first[key] for key, _ in self._tally())

    def assert_stable(self, threshold: float = 0.9) -> None:
        """Raise ``StabilityAssertionError`` if ``agreement`` is below ``threshold``.

        With one sample (outside test mode) agreement is trivially 1.0.
        """
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
            raise ValueError(f"assert_stable(): threshold must be in (0, 1], got {threshold!r}")
        if self.agreement < threshold:
            counts = [n for _, n in self._tally()]
            raise StabilityAssertionError(
                self.function, self.agreement, threshold, distinct=self.distinct, counts=counts
            )

    def __len__(self) -> int:
        return len(self.samples)

    def _keys(self) -> list[str]:
        return [canonical_json(c) for c in self.compared]

    def _tally(self) -> list[tuple[str, int]]:
        # Counter keeps first-seen order and most_common() is stable, so ties go to the value seen first.
        return Counter(self._keys()).most_common()


def warn_if_unsampled(spec: InferSpec, stacklevel: int = 3) -> None:
    """In test mode, warn once that ``spec`` claims stability nobody has sampled."""
    name = spec.qualname
    if name in _sampled or not _warned.first(name):
        return
    warnings.warn(
        StratumWarning(
            f"{name} is declared stable=True but its stability was never sampled; check it with "
            f"`(await Probabilistic.collect({spec.name}, ...)).assert_stable()` or declare stable=False",
            rule="stable-unsampled",
            function=name,
            source="stable=True",
        ),
        stacklevel=stacklevel,
    )


async def _distribution(
    spec: InferSpec, args: tuple[Any, ...], kwargs: Mapping[str, Any], *, n: int
) -> Probabilistic[Any]:
    if n == 1:
        values = [await run_once(spec, args, kwargs)]
    else:
        from .branches import gather_all  # deferred: asyncio loads with the first sampled call

        _sampled.add(spec.qualname)
        group = uuid.uuid4().hex

        def tagged(index: int) -> Callable[[TraceRecord], None]:
            tag = {"id": group, "index": index, "of": n}
            return lambda record: store().append(replace(record, extra={**record.extra, "sample": tag}))

        values = await gather_all([run_once(spec, args, kwargs, record_sink=tagged(i)) for i in range(n)])
    project = projector(spec)
    return Probabilistic(spec.qualname, tuple(values), tuple(project(v) for v in values))


def projector(spec: InferSpec) -> Callable[[Any], Any]:
    """What two outputs of ``spec`` must share to agree (see the module docstring)."""
    dump = spec.output.dump
    if spec.agree_on is not None:
        name = spec.agree_on
        return lambda value: {name: dump(value)[name]}
    if not spec.output.wrapped:
        fields = [n for n, info in spec.output.model.model_fields.items() if _categorical(info.annotation)]
        if fields:
            return lambda value: {n: dump(value)[n] for n in fields}
    return dump


def _categorical(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _categorical(get_args(annotation)[0])
    if origin is Literal:
        return True
    if origin in (typing.Union, types.UnionType):
        return all(_categorical(a) for a in get_args(annotation) if a is not type(None))
    return annotation is bool or (isinstance(annotation, type) and issubclass(annotation, enum.Enum))

