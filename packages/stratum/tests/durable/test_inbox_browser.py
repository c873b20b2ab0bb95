"""The review inbox in a real browser: Debian's chromium, driven by Playwright, with JavaScript off.

``stratum reviews serve`` runs as its own process on the test's database; a
durable flow in this process waits for the review. The browser opens the
printed URL, clicks through to the review, submits an invalid value (the
error shows, the review stays pending), then a valid one, and the flow
completes. JavaScript is disabled throughout: the basic flow needs none, so
a terminal browser can do the same. Each page is screenshotted into the
test's directory (and into ``$STRATUM_INBOX_SCREENSHOTS`` when set: that is
how docs/img is made).

Without chromium or Playwright the test is skipped as a missing service,
unless ``STRATUM_REQUIRE_BROWSER=1`` (set in CI), when it fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

import stratum
from stratum import HumanReviewContext, await_human, contract, flow

CHROMIUM_NAMES = ("chromium", "chromium-browser")

DIFF = """--- a/reply.txt
+++ b/reply.txt
@@ -1,3 +1,3 @@
 Dear Ms Novak,
-we cannot refund this order.
+we have refunded your order in full.
 Kind regards,
"""
POLICY = "\n".join(f"{i}. Refunds above the order value need a manager's approval." for i in range(1, 41))


@contract
class Refund(BaseModel):
    action: Literal["refund", "partial", "deny"]
    amount: float = Field(ge=0, le=500, description="in EUR, at most 500")
    notify_customer: bool = True
    note: str = ""


@flow(durable=True)
async def refund_request(order: int) -> dict[str, Any]:
    context = HumanReviewContext(
        f"Refund order {order}?",
        artifacts={"order": {"id": order, "total_eur": 129.9, "items": ["kettle", "filter"]}, "reply": DIFF,
                   "policy": POLICY, "customer note": "<script>alert('hi')</script> please hurry"},
    )  # fmt: skip
    decision = await await_human(context, Refund)
    return {"action": decision.value.action, "amount": decision.value.amount, "reviewer": decision.reviewer}


def chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def browser_path() -> str:
    path = chromium()
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "missing service: chromium (apt-get install -y chromium) and the playwright package"
        if os.environ.get("STRATUM_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; STRATUM_REQUIRE_BROWSER=1 requires them")
        pytest.skip(message)
    return path


@pytest.fixture
def inbox(durable_sqlite: str, tmp_path: Path) -> Iterator[str]:
    """``stratum reviews serve`` on a free port of this test's database; yields the printed URL."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "stratum", "--db", durable_sqlite, "reviews", "serve", "--port", "0"]
    log = tmp_path / "inbox.stderr"
    with log.open("w") as errors:  # a file, not a pipe: nobody reads it while the test runs
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first line is the URL (it waits for the import, a few seconds)
        assert line.startswith("stratum inbox: http://127.0.0.1:"), (line, log.read_text())
        yield line.split(": ", 1)[1].strip()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
async def page(browser_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            context = await browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})
            opened = await context.new_page()
            opened.set_default_timeout(10_000)
            yield opened
        finally:
            await browser.close()


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folders = [folder]
        extra = os.environ.get("STRATUM_INBOX_SCREENSHOTS")
        if extra:
            self.folders.append(Path(extra))

    async def take(self, page: Any, name: str) -> None:
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def next_pending(flow_id: str) -> Any:
    async with asyncio.timeout(10):
        while True:
            found = await stratum.reviews.pending(flow_id=flow_id)
            if found:
                return found[0]
            await asyncio.sleep(0.02)


async def test_a_reviewer_decides_in_the_browser_and_the_flow_completes(page: Any, inbox: str, tmp_path: Path) -> None:
    shots = Shots(tmp_path / "screenshots")
    handle = await stratum.durable.start(refund_request, 1042, flow_id="refund-1042")
    review = await next_pending("refund-1042")

    await page.goto(inbox)  # the printed URL carries the token once; the cookie keeps it
    await page.get_by_text("Refund order 1042?").wait_for()
    assert await page.locator("#count").inner_text() == "1"
    assert "token=" not in page.url
    await shots.take(page, "inbox")

    await page.get_by_role("link", name="Refund order 1042?").click()
    await page.locator("#decide").wait_for()
    assert (await page.locator("pre.diff .add").inner_text()).strip() == "+we have refunded your order in full."
    assert "<script>alert('hi')</script>" in await page.locator("section.artifact").nth(3).inner_text()
    assert await page.locator("section.artifact details").count() == 1  # the long policy, folded
    await shots.take(page, "review")

    await page.select_option("select[name='v.action']", label="refund")
    await page.fill("input[name='v.amount']", "900")
    await page.fill("#reviewer", "Ana")
    await page.get_by_role("button", name="Submit decision").click()
    error = page.locator("p.error[data-field='v.amount']")
    await error.wait_for()
    assert "500" in await error.inner_text()
    assert [r.review_id for r in await stratum.reviews.pending()] == [review.review_id]
    await shots.take(page, "review-invalid")

    await page.fill("input[name='v.amount']", "129.90")
    await page.fill("#rationale", "Parcel lost by the carrier.")
    await page.get_by_role("button", name="Submit decision").click()
    await page.locator("#decided").wait_for()
    assert await page.locator("#state").inner_text() == "resolved"
    await shots.take(page, "decided")
    assert await handle.result(timeout_s=20) == {"action": "refund", "amount": 129.9, "reviewer": "Ana"}

    await page.get_by_role("link", name="Closed").click()
    await page.get_by_text("Parcel lost by the carrier.").wait_for()
    await shots.take(page, "closed")
    assert sorted(p.name for p in (tmp_path / "screenshots").iterdir()) == [
        "closed.png", "decided.png", "inbox.png", "review-invalid.png", "review.png",
    ]  # fmt: skip
