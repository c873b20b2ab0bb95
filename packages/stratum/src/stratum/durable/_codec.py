"""How durable values are written: JSON with type tags, never bare pickle.

DBOS stores workflow inputs, outputs, step outcomes and messages through a
serializer; its default is pickle, which loses an LLM output that was paid
for when the value cannot be pickled (a class defined in a function) and
cannot always load an exception it wrote. Stratum's steps record plain JSON
(outputs go through their contract), so the codec here is only needed for a
flow's arguments, its result and its error:

- JSON values pass through; tuples, sets, bytes, datetimes, UUIDs, Decimals,
  enums, dataclasses and pydantic models are tagged
  (``{"$stratum": "model", "type": "pkg.mod:Class", "data": {...}}``) and
  rebuilt from their importable class;
- an exception is written as its class, ``args`` and attributes, and rebuilt
  without calling ``__init__``; one that cannot be rebuilt comes back as
  ``FlowFailed`` with its type name and message;
- anything else is pickled as a last resort, inside a tag.

``strict=False`` (a client reading another application's rows: the CLI)
returns the tagged data itself when its class cannot be imported here.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import json
import math
import pickle
import uuid
from typing import Any

import pydantic

from ..exceptions import FlowFailed

__all__ = ["TAG", "decode", "dumps", "encode", "loads", "type_path"]

TAG = "$stratum"
_MAX_DEPTH = 64


def type_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _import(path: str) -> Any:
    module, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def encode(value: Any, depth: int = 0) -> Any:
    """The tagged JSON form of ``value``; ``TypeError`` if it cannot be stored at all."""
    if depth > _MAX_DEPTH:
        raise TypeError("value nested too deeply to store")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {TAG: "float", "repr": repr(value)}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: encode(v, depth + 1) for k, v in value.items()}
        return {TAG: "dict", "items": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {TAG: "tuple", "items": [encode(v, depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        kind = "set" if isinstance(value, set) else "frozenset"
        return {TAG: kind, "items": [encode(v, depth + 1) for v in value]}
    if isinstance(value, pydantic.BaseModel):
        return {TAG: "model", "type": type_path(type(value)), "data": value.model_dump(mode="json")}
    if isinstance(value, BaseException):
        return _encode_error(value, depth)
    if isinstance(value, enum.Enum):
        return {TAG: "enum", "type": type_path(type(value)), "value": encode(value.value, depth + 1)}
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", "iso": value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", "iso": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {TAG: "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "hex": value.hex}
    if isinstance(value, decimal.Decimal):
        return {TAG: "decimal", "text": str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {TAG: "bytes", "b64": base64.b64encode(bytes(value)).decode("ascii")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value) if f.init}
        return {TAG: "dataclass", "type": type_path(type(value)), "fields": fields}
    try:
        data = pickle.dumps(value)
    except Exception as exc:
        raise TypeError(f"a {type(value).__name__} cannot be stored: {exc}") from None
    return {TAG: "pickle", "b64": base64.b64encode(data).decode("ascii")}


def _encode_error(error: BaseException, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {TAG: "error", "type": type_path(type(error)), "message": str(error)[:2000]}
    try:
        out["args"] = encode(list(error.args), depth + 1)
    except TypeError:
        out["args"] = [str(error)]
    state: dict[str, Any] = {}
    for name, item in getattr(error, "__dict__", {}).items():
        if name.startswith("__"):
            continue
        try:
            state[name] = encode(item, depth + 1)
        except TypeError:
            continue  # an attribute that cannot be stored is dropped, never the error itself
    out["state"] = state
    return out


def decode(data: Any, *, strict: bool = True, depth: int = 0) -> Any:
    """Rebuild a value written by ``encode``."""
    if depth > _MAX_DEPTH:
        raise TypeError("stored value nested too deeply")
    if isinstance(data, list):
        return [decode(v, strict=strict, depth=depth + 1) for v in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(TAG)
    if tag is None:
        return {k: decode(v, strict=strict, depth=depth + 1) for k, v in data.items()}
    items = data.get("items", [])

    def each() -> list[Any]:
        return [decode(v, strict=strict, depth=depth + 1) for v in items]

    if tag == "tuple":
        return tuple(each())
    if tag == "set":
        return set(each())
    if tag == "frozenset":
        return frozenset(each())
    if tag == "dict":
        return {decode(k, strict=strict, depth=depth + 1): decode(v, strict=strict, depth=depth + 1) for k, v in items}
    if tag == "float":
        return float(data["repr"])
    if tag == "datetime":
        return dt.datetime.fromisoformat(data["iso"])
    if tag == "date":
        return dt.date.fromisoformat(data["iso"])
    if tag == "timedelta":
        return dt.timedelta(seconds=data["seconds"])
    if tag == "uuid":
        return uuid.UUID(hex=data["hex"])
    if tag == "decimal":
        return decimal.Decimal(data["text"])
    if tag == "bytes":
        return base64.b64decode(data["b64"])
    if tag == "error":
        return _decode_error(data, strict=strict, depth=depth)
    try:
        return _decode_typed(tag, data, strict=strict, depth=depth)
    except Exception:
        if strict:
            raise
        return data.get("data", data.get("fields", data.get("value", data)))


def _decode_typed(tag: str, data: dict[str, Any], *, strict: bool, depth: int) -> Any:
    if tag == "pickle":
        return pickle.loads(base64.b64decode(data["b64"]))
    cls = _import(data["type"])
    if tag == "model":
        return cls.model_validate(data["data"])
    if tag == "enum":
        return cls(decode(data["value"], strict=strict, depth=depth + 1))
    if tag == "dataclass":
        return cls(**{k: decode(v, strict=strict, depth=depth + 1) for k, v in data["fields"].items()})
    raise TypeError(f"unknown stored tag {tag!r}")


def _decode_error(data: dict[str, Any], *, strict: bool, depth: int) -> BaseException:
    path = str(data.get("type", "builtins:Exception"))
    message = str(data.get("message", ""))
    try:
        cls = _import(path)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(f"{path} is not an exception")
        error: BaseException = cls.__new__(cls)
        error.args = tuple(decode(data.get("args", []), strict=False, depth=depth + 1))
        for name, item in data.get("state", {}).items():
            setattr(error, name, decode(item, strict=False, depth=depth + 1))
        str(error)  # an exception whose __str__ needs what __init__ would have set is not usable
        return error
    except Exception:
        return FlowFailed(None, path.replace(":", "."), message)


def dumps(value: Any) -> str:
    """Canonical text (sorted keys): equal values are equal strings."""
    return json.dumps(encode(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(text: str, *, strict: bool = True) -> Any:
    return decode(json.loads(text), strict=strict)
