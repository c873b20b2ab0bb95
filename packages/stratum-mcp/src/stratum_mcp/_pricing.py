"""What reported token usage costs: a bundled price table, which a file can override or extend.

Prices are US dollars per million input and output tokens. A model is found
by its exact name, else by the longest known name it starts with followed by
``-``, ``@``, ``:`` or ``.`` (``claude-sonnet-4-5-20250929`` is priced as
``claude-sonnet-4-5``), ignoring a provider prefix (``anthropic/``) and case.

::

    table = PriceTable.load(None)                 # the bundled table
    table.usd("gpt-4o", 1_000_000, 0)             # 2.5
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stratum_mcp._messages import suggest
from stratum_mcp.errors import PriceTableInvalid, UnknownModelPrice

__all__ = ["Price", "PriceTable"]

_MAX_BYTES = 256 * 1024
_SEPARATORS = "-@:."


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


class PriceTable:
    """Model name -> :class:`Price`."""

    def __init__(self, models: Mapping[str, Price]) -> None:
        self.models = MappingProxyType({name.lower(): price for name, price in models.items()})

    @classmethod
    def load(cls, override: Path | None) -> PriceTable:
        """The bundled table, with every model of ``override`` (a file in the same shape) added or replaced."""
        bundled = resources.files("stratum_mcp").joinpath("prices.json").read_text("utf-8")
        models = _parse(bundled, "the bundled price table")
        if override is not None:
            try:
                with override.open("rb") as handle:
                    data = handle.read(_MAX_BYTES + 1)
            except OSError as exc:
                raise PriceTableInvalid(str(override), f"cannot read it: {exc.strerror or exc}") from None
            if len(data) > _MAX_BYTES:
                raise PriceTableInvalid(str(override), f"it is larger than {_MAX_BYTES} bytes")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise PriceTableInvalid(str(override), "it is not UTF-8 text") from None
            models.update(_parse(text, str(override)))
        return cls(models)

    def price(self, model: str) -> Price | None:
        name = model.strip().lower().rsplit("/", 1)[-1]
        if name in self.models:
            return self.models[name]
        matches = [known for known in self.models
                   if name.startswith(known) and len(name) > len(known) and name[len(known)] in _SEPARATORS]
        return self.models[max(matches, key=len)] if matches else None

    def usd(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """What the tokens cost; :class:`UnknownModelPrice` for a model the table does not know."""
        price = self.price(model)
        if price is None:
            raise UnknownModelPrice(model, suggest(model.strip().lower(), list(self.models)))
        return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1_000_000


def _parse(text: str, where: str) -> dict[str, Price]:
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise PriceTableInvalid(where, f"not JSON: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise PriceTableInvalid(where, 'expected {"models": {"<model>": {"input_per_mtok": ..., '
                                       '"output_per_mtok": ...}}}')
    out = {}
    for name, entry in models.items():
        values = [entry.get(k) if isinstance(entry, dict) else None for k in ("input_per_mtok", "output_per_mtok")]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                   for v in values):
            raise PriceTableInvalid(where, f"model `{str(name)[:80]}` needs input_per_mtok and output_per_mtok, "
                                           "each a number of dollars >= 0")
        out[str(name)] = Price(float(values[0]), float(values[1]))  # type: ignore[arg-type]
    return out
