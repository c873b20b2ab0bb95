"""The project's LocalOpenAIServer in a process of its own, so its CPU is never counted as the client's.

    python benchmarks/_server.py [--delay-s 0.2]

Prints the server's base URL on its first line, then answers every chat
completion with one fixed Sentiment after ``--delay-s`` (an asyncio sleep:
no thread is held per request). Each line written to its standard input is a
command: ``stats`` prints a JSON line of its counters; end of input stops it.
The open-files limit is raised to the hard limit first: ten thousand
concurrent connections need ten thousand descriptors.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from stratum.testing.openai_server import LocalOpenAIServer, Served

ANSWER = {"label": "positive", "confidence": 0.9, "reasoning": "clear"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-s", type=float, default=0.0)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    answer = Served(content=ANSWER, delay_s=args.delay_s) if args.delay_s else ANSWER
    server = LocalOpenAIServer(respond=lambda body: answer, max_requests_kept=1).start()
    print(server.url, flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            stats = {"max_in_flight": server.max_in_flight, "answered": server.answered,
                     "connections": server.connections, "abandoned": server.abandoned,
                     "cpu_s": time.process_time()}  # fmt: skip
            print(json.dumps(stats), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
