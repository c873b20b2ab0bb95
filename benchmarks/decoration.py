"""What declaring costs: @contract, @infer and @flow at import time.

Prints figures; asserts nothing. Decoration runs when a user's module is
imported, once per declaration, so it is paid at every start of a process:

- steady state: the same declarations decorated again and again (the source
  file is already parsed, the contract already compiled), per decoration;
- cold: a fresh module of 40 contracts, 40 @infer functions and 20 flows,
  written to a new file and imported (parsing its source included), per
  declaration.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

import stratum
from stratum import Budget, contract, flow, infer


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    reasoning: str


def classify(text: str, lang: str = "en") -> Sentiment: ...


def answer(question: str) -> Literal["yes", "no"]: ...


async def triage(text: str) -> str:
    first = await with_contract(text=text)
    second = await with_contract(text=first.reasoning)
    return second.label


def with_contract_decl() -> Any:
    return infer(
        intent="Classify the emotional tone of {text}",
        ensure=[lambda r: r.confidence > 0.7, lambda r: r.label != "neutral"],
        given=lambda text: len(text) > 0,
        budget=Budget(ms=5_000, usd=0.001),
    )(classify)


with_contract = with_contract_decl()


def per_call_us(declare: Callable[[], Any], runs: int = 2000) -> float:
    for _ in range(50):  # warm caches
        declare()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        declare()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


MODULE_HEAD = """
from typing import Literal
from pydantic import BaseModel
from stratum import Budget, contract, flow, infer
"""

MODULE_UNIT = """
@contract
class Out{i}(BaseModel):
    label: Literal["a", "b", "c"]
    score: float
    note: str


@infer(intent="Label {{text}}", ensure=[lambda r: r.score > 0.5, lambda r: r.label in ("a", "b")],
       given=lambda text: bool(text), budget=Budget(usd=0.001))
def label{i}(text: str) -> Out{i}: ...


@infer(intent="Answer {{question}}")
def answer{i}(question: str) -> Literal["yes", "no"]: ...
"""

MODULE_FLOW = """
@flow(budget=Budget(usd=0.01))
async def run{i}(text: str) -> str:
    first = await label{i}(text=text)
    second = await label{j}(text=first.note)
    return second.label
"""


def cold_import_us(units: int = 40, copies: int = 5) -> float:
    per_declaration = []
    with tempfile.TemporaryDirectory() as tmp:
        for copy in range(copies):
            body = MODULE_HEAD + "".join(MODULE_UNIT.format(i=i) for i in range(units))
            body += "".join(MODULE_FLOW.format(i=i, j=i + 1) for i in range(0, units, 2))
            path = Path(tmp) / f"declared_{copy}.py"
            path.write_text(body)
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            t = time.perf_counter()
            spec.loader.exec_module(module)
            elapsed = time.perf_counter() - t
            per_declaration.append(elapsed / (units * 3 + units // 2))
    return statistics.median(per_declaration) * 1e6


def main() -> None:
    print(f"python {sys.version.split()[0]}, stratum {stratum.__version__}")
    infer_contract = per_call_us(with_contract_decl)
    infer_primitive = per_call_us(lambda: infer(intent="Answer {question}")(answer))
    a_flow = per_call_us(lambda: flow(budget=Budget(usd=0.01))(triage))
    a_contract = per_call_us(lambda: contract(Sentiment))
    print(f"@infer -> contract, 2 ensure + 1 given: {infer_contract:.1f} us per decoration (steady state)")
    print(f"@infer -> Literal (a wrapper model is built): {infer_primitive:.1f} us per decoration")
    print(f"@flow with a budget and two awaited calls: {a_flow:.1f} us per decoration")
    print(f"@contract on an already compiled model: {a_contract:.1f} us per decoration")
    print(f"cold import of a module of 140 declarations: {cold_import_us():.1f} us per declaration")


if __name__ == "__main__":
    main()
