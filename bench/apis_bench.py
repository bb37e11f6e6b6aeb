"""What the Messages and Responses front doors add to a request, against chat in the same run.

A running gateway (uvicorn on loopback, the real classifier) between two
loopback OpenAI upstreams (``tests/upstreams/gateway_between.py``), called one
request at a time by an httpx client with the same prompt through the three
APIs, interleaved request by request (each API first in turn) so drift hits all alike. Reported: p50
and p90 of each, and each API's p50 as a ratio to chat's (1.00: the front door
costs nothing measurable). Also, in-process, what the translations alone cost
per request (parse, translate into the chat request, write the answer), as a
ratio to parsing the same request as chat.

Usage: ``python bench/apis_bench.py [--requests N] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.base import Completion, Usage  # noqa: E402
from gateway.apis import anthropic_messages, responses  # noqa: E402
from gateway.apis.anthropic_answer import MessagesWire  # noqa: E402
from gateway.apis.responses_answer import ResponsesWire  # noqa: E402
from gateway.protocol import ChatCompletionRequest, completion_body  # noqa: E402
from tests.apis.conftest import POLICY  # noqa: E402
from tests.upstreams.gateway_between import gateway_between  # noqa: E402

PROMPT = "Summarise the customer's complaint about a delayed transfer in two sentences."
BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", {"model": "bank-standard", "messages": [{"role": "user", "content": PROMPT}]}),
    "messages": ("/v1/messages", {"model": "bank-standard", "max_tokens": 64,
                                  "messages": [{"role": "user", "content": PROMPT}]}),
    "responses": ("/v1/responses", {"model": "bank-standard", "input": PROMPT}),
}  # fmt: skip


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def through_the_gateway(requests: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {name: [] for name in BODIES}
    with tempfile.TemporaryDirectory() as tmp, gateway_between(Path(tmp), POLICY) as gw:
        raw = {name: (path, orjson.dumps(body)) for name, (path, body) in BODIES.items()}
        for _ in range(10):  # warm-up: connections, the classifier's first calls
            for path, body in raw.values():
                gw.http.post(path, content=body).raise_for_status()
        names = list(raw)
        for round_ in range(requests):
            for name in names[round_ % 3 :] + names[: round_ % 3]:  # each API first in turn
                path, body = raw[name]
                started = time.perf_counter()
                gw.http.post(path, content=body).raise_for_status()
                timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def translations(rounds: int) -> dict[str, float]:
    """Microseconds per request of each API's own work at the edge, and of parsing chat's body."""
    completion = Completion("The transfer was delayed by a compliance check.", "stop", Usage(20, 12))
    raw = {name: orjson.dumps(body) for name, (_, body) in BODIES.items()}

    def chat() -> None:
        request = ChatCompletionRequest.model_validate(orjson.loads(raw["chat"]))
        orjson.dumps(completion_body("r", request.model, completion))

    def messages() -> None:
        request = anthropic_messages.to_chat(anthropic_messages.parse(raw["messages"]))
        orjson.dumps(MessagesWire("r", request).body(completion))

    def responses_() -> None:
        parsed = responses.parse(raw["responses"])
        responses.to_chat(parsed)
        orjson.dumps(ResponsesWire("r", parsed).body(completion))

    def per_call(work: Callable[[], None]) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(rounds):
                work()
            best = min(best, (time.perf_counter() - started) / rounds * 1e6)
        return best

    return {"chat": per_call(chat), "messages": per_call(messages), "responses": per_call(responses_)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    edge = translations(2000)
    timings = through_the_gateway(args.requests)
    chat_p50 = statistics.median(timings["chat"])
    lines = [
        "# The Messages and Responses front doors against chat",
        "",
        f"`python bench/apis_bench.py --requests {args.requests}` on {platform.machine()}, "
        f"Python {platform.python_version()}; one request at a time, interleaved, real classifier, loopback upstream.",
        "",
        "| API | p50 ms | p90 ms | p50 / chat | edge work µs | edge / chat parse |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in timings.items():
        p50 = statistics.median(values)
        lines.append(
            f"| {name} | {p50:.2f} | {_pct(values, 0.9):.2f} | {p50 / chat_p50:.2f} | {edge[name]:.1f} | "
            f"{edge[name] / edge['chat']:.2f} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.markdown:
        args.markdown.write_text(report)


if __name__ == "__main__":
    main()
