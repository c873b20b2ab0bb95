"""The inbox as a Starlette app: pages for people, JSON for scripts, over ``stratum.reviews``.

Pages: ``/`` (open reviews, newest first, by flow), ``/closed`` (decided,
timed out, cancelled), ``/reviews/{id}`` (one review and its form; the form
posts back to the same address). JSON: ``GET /api/reviews``,
``GET /api/reviews/{id}``, ``POST /api/reviews/{id}/resolve``. Every value
goes through ``durable._reviews.resolve``, which validates exactly as
``stratum.reviews.resolve`` does; store I/O runs in threads there.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..durable._reviews import closed, get, pending, resolve
from ..exceptions import InvalidDecision, ReviewNotPending
from ..hitl._review import PendingReview
from . import _forms, _render
from ._guard import BodyTooLarge, Guard, csrf_ok, read_body

__all__ = ["app"]

_HERE = Path(__file__).parent
_MAX_NAME = 200
_MAX_RATIONALE = 5_000
_MAX_LISTED = 1_000
_MAX_FIELDS = 500
#: How often the inbox page reloads itself (a meta refresh: it works without JavaScript).
REFRESH_S = 5


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"), autoescape=True, undefined=StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, auto_reload=False,  # templates are loaded once, not stat'ed per request
    )  # fmt: skip
    env.globals.update(moment=_render.moment, duration=_render.duration, label=_label, pretty=_pretty)
    return env


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _described(review: PendingReview) -> dict[str, Any]:
    data = review.to_dict()
    data["decision"] = None if review.decision is None else review.decision.to_dict()
    return data


def _waited(review: PendingReview) -> float | None:
    if review.decision is not None:
        return (review.decision.decided_at - review.created_at).total_seconds()
    if review.state == "timed_out" and review.expires_at is not None:
        return (review.expires_at - review.created_at).total_seconds()
    return None


def app(*, token: str | None, max_body: int = 64 * 1024) -> Guard:
    """The inbox as an ASGI app behind its guard; ``token=None`` serves only a loopback ``Host``."""
    env = _templates()

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(now=_now(), **context), status_code=status)

    async def inbox(request: Request) -> Response:
        everything = await pending(limit=_MAX_LISTED, newest_first=True)
        flows: dict[str, int] = {}
        for review in everything:
            flows[review.flow_id or "-"] = flows.get(review.flow_id or "-", 0) + 1
        chosen = request.query_params.get("flow") or None
        shown = [r for r in everything if chosen is None or r.flow_id == chosen]
        return page("inbox.html", reviews=shown, total=len(everything), flows=sorted(flows.items()), chosen=chosen,
                    refresh_s=REFRESH_S)  # fmt: skip

    async def closed_page(request: Request) -> Response:
        chosen = request.query_params.get("flow") or None
        found = await closed(flow_id=chosen, limit=200)
        return page("closed.html", reviews=found, chosen=chosen, waited=_waited)

    def review_page(review: PendingReview, request: Request, *, status: int = 200, errors: Any = None,
                    values: dict[str, str] | None = None, reviewer: str = "", rationale: str = "",
                    refused: str | None = None) -> HTMLResponse:  # fmt: skip
        root = _forms.fields_of(review.decision_schema)
        choices = _forms.choices_of(root, review.options)
        placed: dict[str, list[str]] = errors or {}
        return page(
            "review.html", status, review=review, artifacts=_render.artifacts_of(review.context.artifacts),
            root=root, choices=choices, shows_fields=root.kind not in ("choice", "boolean"),
            values=values if values is not None else _forms.prefill(root, None), errors=placed,
            reviewer=reviewer, rationale=rationale, csrf=request.scope["state"]["csrf"], refused=refused,
            waited=_waited,
        )  # fmt: skip

    async def show(request: Request) -> Response:
        try:
            review = await get(request.path_params["review_id"])
        except ReviewNotPending:
            return page("message.html", 404, title="No such review",
                        text="There is no review with this id in this database.")  # fmt: skip
        return review_page(review, request)

    async def submit(request: Request) -> Response:
        review_id = request.path_params["review_id"]
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return page("message.html", 415, title="Unsupported form", text="Send the form as a web page does.")
        try:
            body = await read_body(request.receive, max_body)
        except BodyTooLarge:
            return page("message.html", 413, title="Too large", text=f"The form is over {max_body} bytes.")
        try:
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=_MAX_FIELDS))
        except ValueError:  # more fields than any form of ours has
            return page("message.html", 413, title="Too large", text=f"The form has over {_MAX_FIELDS} fields.")
        if not csrf_ok(request.scope, form.get("csrf")):
            return page("message.html", 403, title="Form expired",
                        text="This form was not issued by this inbox (or its cookie is gone): open the review "
                             "again and resubmit.")  # fmt: skip
        try:
            review = await get(review_id)
        except ReviewNotPending:
            return page("message.html", 404, title="No such review", text="There is no review with this id.")
        root = _forms.fields_of(review.decision_schema)
        reviewer, rationale = form.get("reviewer", "").strip(), form.get("rationale", "").strip()
        typed = {k: v for k, v in form.items() if k.startswith(_forms.ROOT)}
        keep: dict[str, Any] = {"values": typed, "reviewer": reviewer, "rationale": rationale}
        problems: dict[str, list[str]] = {}
        if len(reviewer) > _MAX_NAME:
            problems["reviewer"] = [f"at most {_MAX_NAME} characters"]
        if len(rationale) > _MAX_RATIONALE:
            problems["rationale"] = [f"at most {_MAX_RATIONALE} characters"]
        value: Any = None
        if "choice" in form:
            choices = _forms.choices_of(root, review.options)
            index = form["choice"]
            if not index.isdigit() or int(index) >= len(choices):
                problems[_forms.ROOT] = ["not one of the offered choices"]
            else:
                value = choices[int(index)]
        else:
            try:
                value = _forms.value_of(root, form)
            except _forms.FormProblem as exc:
                problems.update(exc.errors)
        if problems:
            return review_page(review, request, status=422, errors=problems, **keep)
        try:
            await resolve(review_id, value, reviewer=reviewer or None, rationale=rationale or None)
        except InvalidDecision as exc:
            return review_page(review, request, status=422, errors=_forms.place_errors(root, exc.errors), **keep)
        except ReviewNotPending as exc:
            with contextlib.suppress(ReviewNotPending):
                review = await get(review_id)
            return review_page(review, request, status=409, refused=exc.state, **keep)
        return RedirectResponse(f"/reviews/{review_id}", status_code=303)

    async def api_list(request: Request) -> Response:
        state = request.query_params.get("state", "pending")
        flow = request.query_params.get("flow") or None
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            limit = 0
        if state not in ("pending", "closed") or not 1 <= limit <= _MAX_LISTED:
            return _error(400, "bad_request", f"state is pending or closed; limit in [1, {_MAX_LISTED}]")
        if state == "pending":
            found = await pending(flow_id=flow, limit=limit, newest_first=True)
        else:
            found = await closed(flow_id=flow, limit=limit)
        return JSONResponse({"count": len(found), "reviews": [_described(r) for r in found]})

    async def api_get(request: Request) -> Response:
        try:
            return JSONResponse(_described(await get(request.path_params["review_id"])))
        except ReviewNotPending as exc:
            return _error(404, "unknown", str(exc))

    async def api_resolve(request: Request) -> Response:
        if request.headers.get("content-type", "").partition(";")[0].strip() != "application/json":
            return _error(415, "unsupported_media_type", "send application/json")
        try:
            body = json.loads(await read_body(request.receive, max_body))
        except BodyTooLarge:
            return _error(413, "too_large", f"body over {max_body} bytes")
        except ValueError:
            return _error(400, "bad_request", "the body is not JSON")
        extra = set(body) - {"value", "reviewer", "rationale"} if isinstance(body, dict) else {"?"}
        if (
            not isinstance(body, dict)
            or "value" not in body
            or extra
            or any(body.get(k) is not None and not isinstance(body[k], str) for k in ("reviewer", "rationale"))
        ):
            return _error(400, "bad_request", 'expected {"value": ..., "reviewer": str?, "rationale": str?}')
        review_id = request.path_params["review_id"]
        try:
            decision = await resolve(review_id, body["value"], reviewer=body.get("reviewer"),
                                     rationale=body.get("rationale"))  # fmt: skip
        except InvalidDecision as exc:
            return _error(422, "invalid_decision", str(exc), errors=list(exc.errors))
        except ReviewNotPending as exc:
            if exc.state == "unknown":
                return _error(404, "unknown", str(exc))
            review = await get(review_id)
            stored = None if review.decision is None else review.decision.to_dict()
            return _error(409, "not_pending", str(exc), state=exc.state, decision=stored)
        return JSONResponse({"decision": decision.to_dict()})

    css = (_HERE / "templates" / "inbox.css").read_bytes()  # read once: no file I/O on the loop per request

    async def stylesheet(request: Request) -> Response:
        return Response(css, media_type="text/css")

    routes = [
        Route("/", inbox),
        Route("/closed", closed_page),
        Route("/reviews/{review_id}", show, methods=["GET"]),
        Route("/reviews/{review_id}", submit, methods=["POST"]),
        Route("/api/reviews", api_list),
        Route("/api/reviews/{review_id}", api_get),
        Route("/api/reviews/{review_id}/resolve", api_resolve, methods=["POST"]),
        Route("/static/inbox.css", stylesheet),
    ]
    return Guard(Starlette(routes=routes), token=token, max_body=max_body)


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)
