"""``opaque[T]``: data that must never become instruction text, wherever it flows.

Three mechanisms, used by the prompt compiler and the feedback writers:

- **Declared.** ``opaque[T]`` is ``Annotated[T, OPAQUE]``. ``split(value,
  annotation, ...)`` walks a value together with its declared type, so an
  opaque position is found at any depth of any structure: a parameter, a
  field of a pydantic model, a dataclass or a TypedDict, an item type of a
  list or dict, an arm of a union. What it finds moves to the attachment.
- **Tracked.** A value keeps being opaque after it has left its type: a
  contract dumped to a plain dict, one item of an ``opaque[list[str]]``, an
  output field copied into the next call. Every string (of at least
  ``MIN_CHARS``) that was validated into an opaque field (the ``OPAQUE``
  marker hooks pydantic validation: construction, model output, cache hits)
  or sent as an opaque input is remembered by content, as a digest in a
  bounded table. A plain input whose text is one of them is refused with
  ``StratumCompileError`` before any request: the fix is to declare it opaque.
  Content, not identity: a dump, a copy or a model's echo makes a new object
  with the same text, and text is what would reach the model.
- **Encoded.** The leak check compares what is actually sent: an opaque
  text, as it is and JSON-escaped (how inputs are rendered), must not occur
  anywhere in the instruction text of the same call.

Feedback never quotes opaque content. The model's own strings are not quoted
in retry feedback of a call that carries opaque data (the model read that
data, so anything it wrote may carry it: ``shown``), and feedback written by
host code (``@refine``) has opaque fields replaced by their names and the
call's opaque texts replaced by a reference to the input (``scrub``).

What no check can see is opaque text transformed on the way (summarised,
translated, re-encoded) or embedded by host code inside a longer string of a
later call: those are the program's own decisions.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import threading
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, TypeVar, get_args, get_origin

from pydantic import BaseModel

__all__ = [
    "MIN_CHARS",
    "OPAQUE",
    "find_leak",
    "forget",
    "is_opaque",
    "needles",
    "opaque",
    "opaque_paths",
    "recalled",
    "remember",
    "scrub",
    "shown",
    "split",
    "strings",
    "tracking",
]

_T = TypeVar("_T")

#: Shorter texts are neither tracked nor searched for: "yes" or "1" would
#: collide with ordinary words by chance.
MIN_CHARS = 8
#: Most opaque texts remembered at once (digests, least recently seen dropped).
_CAPACITY = 65_536
#: How an opaque position reads in feedback.
PLACEHOLDER = "<opaque, not shown>"


class _OpaqueMarker:
    """The metadata ``opaque[T]`` carries; validating a value into it remembers the value."""

    _instance: _OpaqueMarker | None = None

    def __new__(cls) -> _OpaqueMarker:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "opaque"

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        # An after-validator leaves the JSON Schema (and so the contract hash) as it was.
        from pydantic_core import core_schema

        return core_schema.with_info_after_validator_function(_track, handler(source))


def _track(value: Any, info: Any) -> Any:
    remember(value, f"opaque field `{getattr(info, 'field_name', None) or 'value'}`")
    return value


OPAQUE = _OpaqueMarker()

#: ``opaque[T]`` is ``Annotated[T, OPAQUE]``: type checkers see ``T``.
opaque = Annotated[_T, OPAQUE]


def is_opaque(annotation: Any) -> bool:
    """True if ``annotation`` is ``opaque[T]`` (possibly inside ``Annotated``)."""
    return get_origin(annotation) is Annotated and any(m is OPAQUE for m in annotation.__metadata__)


# -- declared: a value walked with its type ---------------------------------------------
_WRAPPERS = {typing.Required, typing.NotRequired}
_HIDDEN = object()


def split(value: Any, annotation: Any, path: str, hidden: dict[str, Any], *, named: bool = False) -> Any:
    """The JSON-able form of ``value`` read as ``annotation``; opaque positions go to ``hidden[path]``.

    An opaque position is left out of the form (``named=True``: replaced by
    ``PLACEHOLDER``, so feedback can say which field it was). ``TypeError``
    for a value that has no JSON form.
    """
    out = _split(value, annotation, path, hidden, named)
    return PLACEHOLDER if out is _HIDDEN else out


def _split(value: Any, annotation: Any, path: str, hidden: dict[str, Any], named: bool) -> Any:
    annotation = _unwrap(annotation)
    if is_opaque(annotation):
        hidden[path] = split(value, Any, path, {})
        return PLACEHOLDER if named else _HIDDEN
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if _is_union(annotation):
        annotation = next((arm for arm in get_args(annotation) if _fits(value, arm)), Any)
        return _split(value, annotation, path, hidden, named)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, BaseModel):
        fields = {name: _field_annotation(info) for name, info in type(value).model_fields.items()}
        return _record(((n, getattr(value, n), a) for n, a in fields.items()), path, hidden, named)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        hints = _hints(type(value))
        items = ((f.name, getattr(value, f.name), hints.get(f.name, Any)) for f in dataclasses.fields(value))
        return _record(items, path, hidden, named)
    origin, args = get_origin(annotation) or annotation, get_args(annotation)
    if isinstance(value, Mapping):
        if typing.is_typeddict(origin):
            hints = _hints(origin)
            return _record(((str(k), v, hints.get(k, Any)) for k, v in value.items()), path, hidden, named)
        item = args[1] if len(args) == 2 else Any
        return _record(((str(k), v, item) for k, v in value.items()), path, hidden, named)
    if isinstance(value, (list, tuple, set, frozenset)):
        out = []
        for i, item in enumerate(value):
            form = _split(item, _item_annotation(args, i), f"{path}[{i}]", hidden, named)
            if form is not _HIDDEN:
                out.append(form)
        return out
    from pydantic_core import PydanticSerializationError

    from .._json import any_adapter

    try:
        return any_adapter().dump_python(value, mode="json")
    except PydanticSerializationError:
        raise TypeError(
            f"input `{path}` of type {type(value).__name__} cannot be rendered into a prompt; "
            "pass JSON-like data, a pydantic model, or a dataclass"
        ) from None


def _record(items: Any, path: str, hidden: dict[str, Any], named: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item, annotation in items:
        form = _split(item, annotation, f"{path}.{name}" if path else name, hidden, named)
        if form is not _HIDDEN:
            out[name] = form
    return out


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) in _WRAPPERS:
        (annotation,) = get_args(annotation)
    return annotation


def _field_annotation(info: Any) -> Any:
    # pydantic moves Annotated metadata off the annotation; put the marker back where it was.
    if any(m is OPAQUE for m in info.metadata):
        return Annotated[info.annotation, OPAQUE]
    return info.annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (typing.Union, types.UnionType)


def _fits(value: Any, arm: Any) -> bool:
    base = _unwrap(arm)
    if get_origin(base) is Annotated:
        base = get_args(base)[0]
    if base is Any:
        return True
    if base is None or base is type(None):
        return value is None
    origin = get_origin(base) or base
    if typing.is_typeddict(origin):
        return isinstance(value, Mapping)
    return isinstance(origin, type) and isinstance(value, origin)


def _item_annotation(args: tuple[Any, ...], index: int) -> Any:
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    if len(args) == 1:
        return args[0]
    return args[index] if index < len(args) else Any


@functools.lru_cache(maxsize=512)
def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception:  # an annotation that cannot be resolved declares nothing
        return {}


def opaque_paths(annotation: Any, _seen: frozenset[Any] = frozenset()) -> frozenset[str]:
    """Where a type declares opaque positions (``"reasoning"``, ``"notes[].text"``); empty when none."""
    annotation = _unwrap(annotation)
    if is_opaque(annotation):
        return frozenset({""})
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if annotation in _seen:
        return frozenset()
    seen = _seen | {annotation}
    fields: dict[str, Any] = {}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {name: _field_annotation(info) for name, info in annotation.model_fields.items()}
    elif (isinstance(annotation, type) and dataclasses.is_dataclass(annotation)) or typing.is_typeddict(annotation):
        fields = _hints(annotation)
    found: set[str] = set()
    for name, sub in fields.items():
        found |= {f"{name}.{p}" if p else name for p in opaque_paths(sub, seen)}
    for arg in get_args(annotation) if not fields else ():
        if arg is not Ellipsis:
            found |= {f"[].{p}" if p else "[]" for p in opaque_paths(arg, seen)}
    return frozenset(found)


# -- tracked: opaque texts remembered by content ---------------------------------------
_lock = threading.Lock()
_seen: collections.OrderedDict[bytes, str] = collections.OrderedDict()


def _digest(text: str) -> bytes:
    import hashlib  # deferred, as in stratum._json

    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def strings(value: Any, *, keys: bool = False) -> Iterator[str]:
    """Every string value inside ``value``, at any depth (with ``keys``, dict keys too).

    Keys are left out by default: they are the names of a structure
    (``"reasoning"``), shared by plain and opaque data alike, not its content.
    """
    if isinstance(value, str):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from strings(getattr(value, name), keys=keys)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from strings(getattr(value, f.name), keys=keys)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if keys and isinstance(key, str):
                yield key
            yield from strings(item, keys=keys)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from strings(item, keys=keys)


def remember(value: Any, label: str) -> None:
    """Remember every text in ``value`` as opaque; ``label`` says where it was seen."""
    digests = [_digest(text) for text in strings(value) if len(text) >= MIN_CHARS]
    if not digests:
        return
    with _lock:
        for digest in digests:
            _seen[digest] = label
            _seen.move_to_end(digest)
        while len(_seen) > _CAPACITY:
            _seen.popitem(last=False)


def tracking() -> bool:
    """Whether any text is remembered as opaque: while none is, there is nothing to look up."""
    return bool(_seen)


def recalled(text: str) -> str | None:
    """Where ``text`` was seen as opaque data, or None."""
    if len(text) < MIN_CHARS or not _seen:  # nothing tracked yet: no digest to compute
        return None
    with _lock:
        return _seen.get(_digest(text))


def forget() -> None:
    """Forget every remembered text (``reset_defaults()``: tests start clean)."""
    with _lock:
        _seen.clear()


# -- encoded: leak checks and feedback --------------------------------------------------
def needles(hidden: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(input name, text)`` for every opaque text of a call worth searching for."""
    return [(name, text) for name, value in hidden.items() for text in strings(value) if len(text) >= MIN_CHARS]


def _forms(text: str) -> set[str]:
    """How ``text`` can appear once rendered: as it is, JSON-escaped (either way), as Python prints it."""
    return {text, json.dumps(text, ensure_ascii=False)[1:-1], json.dumps(text)[1:-1], repr(text)[1:-1]}


def find_leak(text: str, hidden: Mapping[str, Any]) -> str | None:
    """The name of an opaque input whose text, in any rendered form, occurs in ``text``; else None."""
    for name, needle in needles(hidden):
        if any(form in text for form in _forms(needle)):
            return name
    return None


def scrub(text: str, hidden: Mapping[str, Any]) -> str:
    """``text`` with every rendered form of the call's opaque texts replaced by a reference to the input."""
    for name, needle in sorted(needles(hidden), key=lambda pair: -len(pair[1])):
        for form in sorted(_forms(needle), key=len, reverse=True):
            text = text.replace(form, f"<opaque input `{name}`, not shown>")
    return text


def shown(value: Any) -> str:
    """A model-written value as retry feedback may show it when the call carries opaque data.

    Numbers, booleans and null cannot carry instructions and are shown; any
    text (or structure holding text) is named by its type only.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return f"<{type(value).__name__}, not shown>"
