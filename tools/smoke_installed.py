"""Use the installed wheels the way a user would (run by tools/smoke-wheels).

Fails loudly (non-zero exit) if anything comes from a source tree instead of
site-packages, or if a packaged file is missing.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

import stratum
import stratum_mcp
from stratum import contract, infer
from stratum.clients import LiteLLMClient
from stratum.testing.openai_server import LocalOpenAIServer

SITE = Path(sysconfig.get_paths()["purelib"]).resolve()


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        raise SystemExit(1)
    print(f"  ok: {what}")


def installed_from_site_packages() -> None:
    for module in (stratum, stratum_mcp):
        origin = Path(module.__file__ or "").resolve()
        check(SITE in origin.parents, f"{module.__name__} is imported from site-packages")
    for dist, marker in (("stratum-py", "stratum/py.typed"), ("stratum-mcp", "stratum_mcp/py.typed")):
        files = {str(f) for f in importlib.metadata.files(dist) or ()}
        check(marker in files, f"{dist} ships {marker}")
    core_files = {str(f) for f in importlib.metadata.files("stratum-py") or ()}
    for page in ("inbox.html", "review.html", "closed.html", "inbox.css"):
        check(f"stratum/inbox/templates/{page}" in core_files, f"stratum-py ships the inbox's {page}")
    mcp_files = {str(f) for f in importlib.metadata.files("stratum-mcp") or ()}
    skills = sorted(f for f in mcp_files if f.endswith("/SKILL.md"))
    check(len(skills) == 7, f"stratum-mcp ships the seven skills ({len(skills)} found)")
    check(any(f.endswith(".schema.json") for f in mcp_files), "stratum-mcp ships the spec JSON Schema")


@contract
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


@infer(intent="Classify the emotional tone of customer feedback", ensure=lambda r: r.confidence > 0.7)
def classify(text: str) -> Sentiment: ...


def infer_through_litellm() -> None:
    with LocalOpenAIServer([{"label": "positive", "confidence": 0.5}, {"label": "positive", "confidence": 0.9}]) as srv:
        stratum.configure(
            client=LiteLLMClient(api_base=srv.url, api_key="sk-local"), default_model="openai/gpt-4o-mini"
        )
        result = stratum.run(classify(text="Great product"))
        expected = Sentiment(label="positive", confidence=0.9)
        check(result == expected, "an @infer call through LiteLLM returns the contract")
        check(len(srv.requests) == 2, "the failed ensure was retried once (2 requests)")
        record = stratum.trace.all_records()[-1]
        check(record.attempts == 2 and record.error is None, "the trace record shows 2 attempts and no error")


def mcp_commands() -> None:
    scripts = Path(sys.executable).parent
    schema = subprocess.run([scripts / "stratum-mcp", "schema"], capture_output=True, text=True, check=True)
    check(json.loads(schema.stdout).get("type") == "object", "`stratum-mcp schema` prints the packaged spec schema")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ".git").mkdir()
        dry = subprocess.run(
            [scripts / "stratum-mcp", "setup", "--dry-run", "--project", tmp],
            capture_output=True, text=True, check=True, env={"HOME": tmp, "PATH": str(scripts)},
        )  # fmt: skip
        check(dry.stdout.count("SKILL.md") >= 7, "`stratum-mcp setup --dry-run` would install the seven skills")


def main() -> int:
    print(f"stratum {stratum.__version__} and stratum-mcp, installed from wheels")
    installed_from_site_packages()
    infer_through_litellm()
    mcp_commands()
    return 0


if __name__ == "__main__":
    sys.exit(main())
