"""The review inbox over HTTP: auth, CSRF, escaping, size bounds, the form and the JSON endpoints.

The app runs in this process behind httpx's ASGI transport (the same app
``stratum reviews serve`` runs under uvicorn); the flows wait on this loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field

import stratum
from stratum import HumanReviewContext, await_human, contract, flow

TOKEN = "s3cret-token-for-tests"
BASE = "http://127.0.0.1:8765"


@contract
class Address(BaseModel):
    city: str
    floor: int | None = None


@contract
class Refund(BaseModel):
    action: Literal["refund", "deny"]
    amount: float = Field(ge=0, le=500)
    notify: bool = True
    tags: list[str] = []
    ship_to: Address | None = None


HOSTILE = "<script>alert('x')</script><b>bold</b>"


@flow(durable=True)
async def refund_flow(question: str) -> dict[str, Any]:
    decision = await await_human(
        HumanReviewContext(question, artifacts={"note": HOSTILE, "order": {"id": 7, "html": "<img src=x>"}}),
        Refund,
    )
    return {"value": decision.value.model_dump(), "reviewer": decision.reviewer}


@flow(durable=True)
async def send_flow(question: str) -> str:
    decision = await await_human(question, Literal["send", "hold"], options=["send", "hold"])
    return decision.value


async def next_pending(flow_id: str) -> Any:
    async with asyncio.timeout(10):
        while True:
            found = await stratum.reviews.pending(flow_id=flow_id)
            if found:
                return found[0]
            await asyncio.sleep(0.01)


def client(token: str | None = TOKEN, **kwargs: Any) -> httpx.AsyncClient:
    app = stratum.inbox.app(token=token, max_body=kwargs.pop("max_body", 16 * 1024))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, **kwargs)


def signed_in(**kwargs: Any) -> httpx.AsyncClient:
    return client(headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the form carries a CSRF token"
    return found.group(1)


async def test_every_request_without_the_right_token_is_refused(durable_sqlite: str) -> None:
    async with client() as anonymous:
        for path in ("/", "/closed", "/reviews/x", "/api/reviews", "/static/inbox.css"):
            assert (await anonymous.get(path)).status_code == 401
        assert (await anonymous.post("/api/reviews/x/resolve", json={"value": 1})).status_code == 401
        wrong = await anonymous.get("/api/reviews", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    async with signed_in() as ok:
        assert (await ok.get("/api/reviews")).json() == {"count": 0, "reviews": []}


async def test_opening_the_printed_url_sets_a_cookie_and_drops_the_token_from_the_address(durable_sqlite: str) -> None:
    async with client() as browser:
        first = await browser.get(f"/?token={TOKEN}&flow=a")
        assert first.status_code == 303 and first.headers["location"] == "/?flow=a"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = await browser.get("/?flow=a")
        assert page.status_code == 200 and "Open reviews" in page.text
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
    name = cookie.split("=", 1)[0]
    async with client(cookies={name: "not-the-token"}) as forged:
        assert (await forged.get("/")).status_code == 401


async def test_without_a_token_only_a_loopback_host_is_served(durable_sqlite: str) -> None:
    async with client(token=None) as local:
        assert (await local.get("/")).status_code == 200
        rebound = await local.get("/", headers={"Host": "evil.example:8765"})
        assert rebound.status_code == 421


async def test_artifacts_are_shown_as_text_never_as_html(durable_sqlite: str) -> None:
    await stratum.durable.start(refund_flow, "Refund <i>order</i> 7?", flow_id="inbox-esc")
    review = await next_pending("inbox-esc")
    async with signed_in() as browser:
        page = (await browser.get(f"/reviews/{review.review_id}")).text
    assert "<script>" not in page and "<img src=x>" not in page and "<i>order</i>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x&gt;" in page and "Refund &lt;i&gt;order&lt;/i&gt; 7?" in page
    await stratum.reviews.resolve(review.review_id, {"action": "deny", "amount": 0})


async def test_a_form_post_without_the_csrf_token_changes_nothing(durable_sqlite: str) -> None:
    await stratum.durable.start(send_flow, "Send?", flow_id="inbox-csrf")
    review = await next_pending("inbox-csrf")
    async with signed_in() as browser:
        await browser.get(f"/reviews/{review.review_id}")  # sets the CSRF cookie
        form = {"choice": "0", "reviewer": "mallory"}
        forged = await browser.post(f"/reviews/{review.review_id}", data=form)
        assert forged.status_code == 403
        wrong = await browser.post(f"/reviews/{review.review_id}", data={**form, "csrf": "guessed"})
        assert wrong.status_code == 403
        page = (await browser.get(f"/reviews/{review.review_id}")).text
        elsewhere = await browser.post(f"/reviews/{review.review_id}", data={**form, "csrf": csrf_of(page)},
                                       headers={"Origin": "https://evil.example"})  # fmt: skip
        assert elsewhere.status_code == 403
    assert [r.review_id for r in await stratum.reviews.pending()] == [review.review_id]
    await stratum.reviews.resolve(review.review_id, "hold")


async def test_oversized_bodies_are_refused_before_anything_is_read(durable_sqlite: str) -> None:
    async with signed_in(max_body=1024) as browser:
        big = await browser.post("/api/reviews/x/resolve", json={"value": "x" * 5000})
        assert big.status_code == 413

        async def chunks() -> Any:  # no Content-Length: the body is cut at the limit while read
            for _ in range(10):
                yield b"x" * 512

        streamed = await browser.post("/api/reviews/x/resolve", content=chunks(),
                                      headers={"Content-Type": "application/json"})  # fmt: skip
        assert streamed.status_code == 413
    async with signed_in() as browser:
        many = await browser.post("/reviews/x", data={f"f{i}": "" for i in range(600)})
        assert many.status_code == 413


async def test_an_invalid_form_shows_the_field_errors_and_a_valid_one_resolves(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(refund_flow, "Refund order 7?", flow_id="inbox-form")
    review = await next_pending("inbox-form")
    url = f"/reviews/{review.review_id}"
    async with signed_in(follow_redirects=False) as browser:
        page = (await browser.get(url)).text
        for name in ("v.action", "v.amount", "v.notify", "v.tags", "v.ship_to.city", "v.ship_to.floor"):
            assert f'name="{name}"' in page
        bad = {"csrf": csrf_of(page), "v.action": "0", "v.amount": "9000", "v.notify": "true",
               "v.tags": "", "v.ship_to.city": "Lyon", "v.ship_to.floor": "two", "reviewer": "ana"}  # fmt: skip
        refused = await browser.post(url, data=bad)
        assert refused.status_code == 422
        assert re.search(r'data-field="v.amount">[^<]*500', refused.text)
        assert 'data-field="v.ship_to.floor"' in refused.text
        assert 'value="Lyon"' in refused.text and 'value="ana"' in refused.text  # what was typed is kept
        assert [r.review_id for r in await stratum.reviews.pending()] == [review.review_id]
        good = {**bad, "v.amount": "12.5", "v.ship_to.floor": "2", "v.tags": "vip\nlate", "rationale": "fair"}
        accepted = await browser.post(url, data=good)
        assert accepted.status_code == 303 and accepted.headers["location"] == url
        assert await handle.result(timeout_s=10) == {
            "value": {"action": "refund", "amount": 12.5, "notify": True, "tags": ["vip", "late"],
                      "ship_to": {"city": "Lyon", "floor": 2}},
            "reviewer": "ana",
        }  # fmt: skip
        again = await browser.post(url, data={**good, "reviewer": "bob"})
        assert again.status_code == 409
        assert "already decided by <strong>ana</strong>" in again.text


async def test_an_optional_nested_contract_left_blank_is_none(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(refund_flow, "Refund order 8?", flow_id="inbox-blank")
    review = await next_pending("inbox-blank")
    async with signed_in() as browser:
        page = (await browser.get(f"/reviews/{review.review_id}")).text
        form = {"csrf": csrf_of(page), "v.action": "1", "v.amount": "0", "v.notify": "false", "v.ship_to.city": ""}
        assert (await browser.post(f"/reviews/{review.review_id}", data=form)).status_code == 303
    decided = (await handle.result(timeout_s=10))["value"]
    assert decided == {"action": "deny", "amount": 0.0, "notify": False, "tags": [], "ship_to": None}


async def test_the_json_endpoints_list_resolve_and_refuse_as_documented(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(send_flow, "Send it?", flow_id="inbox-api")
    review = await next_pending("inbox-api")
    async with signed_in() as api:
        listed = (await api.get("/api/reviews", params={"flow": "inbox-api"})).json()
        assert listed["count"] == 1 and listed["reviews"][0]["options"] == ["send", "hold"]
        resolve = f"/api/reviews/{review.review_id}/resolve"
        assert (await api.post(resolve, content=b'{"value": "send"}')).status_code == 415
        assert (await api.post(resolve, json={"valeur": "send"})).status_code == 400
        invalid = await api.post(resolve, json={"value": "shout"})
        assert invalid.status_code == 422 and invalid.json()["error"] == "invalid_decision"
        assert invalid.json()["errors"]
        done = await api.post(resolve, json={"value": "send", "reviewer": "bot", "rationale": "ok"})
        assert done.status_code == 200 and done.json()["decision"]["value"] == "send"
        assert await handle.result(timeout_s=10) == "send"
        twice = await api.post(resolve, json={"value": "hold"})
        assert twice.status_code == 409 and twice.json()["decision"]["reviewer"] == "bot"
        assert (await api.post("/api/reviews/nope/resolve", json={"value": "send"})).status_code == 404
        closed = (await api.get("/api/reviews", params={"state": "closed"})).json()
        assert [r["decision"]["reviewer"] for r in closed["reviews"]] == ["bot"]


async def test_the_pages_list_open_reviews_newest_first_and_closed_ones_with_their_decision(
    durable_sqlite: str,
) -> None:
    await stratum.durable.start(send_flow, "First?", flow_id="inbox-a")
    first = await next_pending("inbox-a")
    await stratum.durable.start(send_flow, "Second?", flow_id="inbox-b")
    await next_pending("inbox-b")
    async with signed_in() as browser:
        page = (await browser.get("/")).text
        assert page.index("Second?") < page.index("First?") and 'id="count">2<' in page
        assert '<meta http-equiv="refresh" content="5">' in page  # it refreshes itself, without JavaScript
        only_a = (await browser.get("/", params={"flow": "inbox-a"})).text
        assert "First?" in only_a and "Second?" not in only_a
        await stratum.reviews.resolve(first.review_id, "hold", reviewer="ana", rationale="not yet")
        gone = (await browser.get("/closed")).text
        assert "First?" in gone and "ana" in gone and "not yet" in gone and "hold" in gone
    for review in await stratum.reviews.pending():
        await stratum.reviews.resolve(review.review_id, "hold")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
async def test_serving_beyond_loopback_without_a_token_is_a_usage_error(host: str) -> None:
    command = [sys.executable, "-m", "stratum", "reviews", "serve", "--host", host, "--no-token"]
    refused = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "loopback" in refused.stderr


@flow(durable=True)
async def quick_flow(question: str) -> bool:
    decision = await await_human(question, bool, timeout=0.2, on_timeout=False)
    return decision.value


@flow(durable=True)
async def count_flow(question: str) -> int:
    return (await await_human(question, int)).value


async def test_an_expired_review_is_browsable_as_timed_out(durable_sqlite: str) -> None:
    handle = await stratum.durable.start(quick_flow, "Too slow?", flow_id="inbox-late")
    assert await handle.result(timeout_s=10) is False
    async with signed_in() as browser:
        page = (await browser.get("/closed")).text
        assert "Too slow?" in page and "timed out" in page
        listed = (await browser.get("/api/reviews", params={"state": "closed"})).json()
        assert [r["state"] for r in listed["reviews"]] == ["timed_out"]


async def test_a_yes_no_question_gets_two_buttons_and_a_number_a_field(durable_sqlite: str) -> None:
    await stratum.durable.start(count_flow, "How many?", flow_id="inbox-int")
    review = await next_pending("inbox-int")
    async with signed_in() as browser:
        page = (await browser.get(f"/reviews/{review.review_id}")).text
        assert 'name="v"' in page and 'name="choice"' not in page
        refused = await browser.post(f"/reviews/{review.review_id}", data={"csrf": csrf_of(page), "v": "lots"})
        assert refused.status_code == 422 and 'data-field="v"' in refused.text
        assert (
            await browser.post(f"/reviews/{review.review_id}", data={"csrf": csrf_of(page), "v": "3"})
        ).status_code == 303
    handle = await stratum.durable.start(quick_flow, "Ship it?", flow_id="inbox-bool")
    assert (await next_pending("inbox-bool")) is not None
    async with signed_in() as browser:
        page = (await browser.get(f"/reviews/{(await next_pending('inbox-bool')).review_id}")).text
        assert page.count('name="choice"') == 2 and ">true</button>" in page and ">false</button>" in page
    await handle.result(timeout_s=10)


def test_the_served_inbox_writes_its_token_0600_and_refuses_what_it_should(tmp_path: Path) -> None:
    token_file = tmp_path / "inbox.token"
    database = f"sqlite:///{tmp_path / 'durable.sqlite'}"
    command = [sys.executable, "-m", "stratum", "--db", database, "reviews", "serve", "--port", "0",
               "--token-file", str(token_file)]  # fmt: skip
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
    with (
        (tmp_path / "inbox.stderr").open("w") as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env) as process,
    ):
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split(": ", 1)[1].strip()
            assert "token" not in url  # written to the file, never printed
            token = token_file.read_text().strip()
            assert len(token) >= 40 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
            assert token not in process.stdout.readline()
            with httpx.Client(base_url=url, timeout=10) as http:
                assert http.get("api/reviews").status_code == 401
                assert http.get("api/reviews", headers={"Authorization": "Bearer x"}).status_code == 401
                auth = {"Authorization": f"Bearer {token}"}
                assert http.get("api/reviews", headers=auth).json() == {"count": 0, "reviews": []}
                huge = http.post("api/reviews/x/resolve", headers=auth, json={"value": "x" * 100_000})
                assert huge.status_code == 413
        finally:
            process.terminate()
            process.wait(10)
