"""A real OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

Point LiteLLM at it with ``api_base=server.url`` and ``model="openai/<name>"``::

    from stratum.clients import LiteLLMClient
    from stratum.testing.openai_server import LocalOpenAIServer, Served

    with LocalOpenAIServer([{"label": "positive"}, Served(status=429)]) as server:
        stratum.configure(client=LiteLLMClient(api_base=server.url, api_key="test"))

``server.in_flight`` / ``max_in_flight`` count requests being answered, and
``hold()`` / ``release()`` keep them waiting (see ``LocalOpenAIServer``).
"""

from ._openai_server import LocalOpenAIServer, Served

__all__ = ["LocalOpenAIServer", "Served"]
