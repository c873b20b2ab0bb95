"""The review inbox: web pages and JSON endpoints over the durable store, for the people who decide.

Run it with ``stratum reviews serve`` (loopback, a token printed once), or
mount the ASGI app in your own server::

    import stratum

    stratum.configure(durable=stratum.durable.dbos("postgresql://..."))
    app = stratum.inbox.app(token=open("/run/secrets/inbox-token").read().strip())
    # uvicorn.run(app, host="0.0.0.0", port=8765)  # or mount it under Starlette / FastAPI

Inside: ``_forms`` turns a decision type's JSON Schema into form fields and a
posted form back into a value; ``_render`` makes artifacts readable as plain
text; ``_guard`` is the middleware every request passes (token, Host, size,
CSRF cookie, headers); ``_app`` holds the routes; ``_serve`` binds, makes the
token and runs uvicorn. Starlette, uvicorn and Jinja2 (the ``inbox`` extra)
load only when the app is built. See ``docs/reviews.md``.
"""

from .._faces import lazy_exports as _lazy_exports

__all__ = ["app"]

_LAZY = {"app": "._app"}
__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
