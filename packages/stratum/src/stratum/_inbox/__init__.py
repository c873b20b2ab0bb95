"""The review inbox, ``stratum reviews serve``: a small web app over the durable store.

``_forms`` turns a decision type's JSON Schema into form fields and a posted
form back into a value; ``_render`` makes artifacts readable as plain text;
``_guard`` is the ASGI middleware every request passes (token, Host, size,
CSRF cookie, headers); ``_app`` holds the routes; ``_serve`` binds the socket,
makes the token and runs uvicorn. Starlette, uvicorn and Jinja2 (the
``inbox`` extra) are imported only here, and only by ``reviews serve``.
"""
