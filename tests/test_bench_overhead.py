"""The overhead benchmark's own parts: its upstream speaks the wire protocol, its open-loop
generator keeps its rate, its report and metric parsing read what the gateway exposes.

The benchmark itself is not a test (timings never are); these keep its tools honest.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import httpx
import orjson
import pytest

from bench.overhead import load, report, stages
from bench.overhead.prompts import prompt_stems, unique
from bench.overhead.upstream import serve


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    served = serve("127.0.0.1", port, signals=False)
    task = loop.create_task(served)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.HTTPError:
            threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(task.cancel)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_the_upstream_answers_completions_streams_and_refuses_garbage(upstream: str) -> None:
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "hello"}]}
    answer = httpx.post(f"{upstream}/v1/chat/completions", json=body).json()
    assert answer["choices"][0]["message"]["content"] and answer["usage"]["completion_tokens"] == 20
    streamed = httpx.post(f"{upstream}/v1/chat/completions", json={**body, "stream": True}).text
    assert streamed.endswith("data: [DONE]\n\n") and '"finish_reason":"stop"' in streamed
    assert httpx.post(f"{upstream}/v1/chat/completions", content=b"{not json").status_code == 400
    stats = httpx.get(f"{upstream}/stats").json()
    assert stats["completions"] >= 1 and stats["streams"] >= 1 and stats["bad_requests"] >= 1


def test_prompts_are_about_thirty_words_and_never_repeat() -> None:
    stems = prompt_stems(50)
    assert all(20 <= len(s.split()) <= 45 for s in stems)
    texts = {unique(stems[n % len(stems)], n) for n in range(500)}
    assert len(texts) == 500


def test_the_open_loop_generator_keeps_its_rate(upstream: str) -> None:
    result = load.open_loop(upstream, "none", "bench-model", prompt_stems(10), rate=40, duration_s=1.0)
    assert result.errors == 0 and result.requests == 40
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms


def test_stage_timers_are_read_from_the_gateways_exposition() -> None:
    def text(count: float, total: float, small: float) -> str:
        return (f'gateway_stage_seconds_bucket{{le="0.001",stage="auth"}} {small}\n'
                f'gateway_stage_seconds_bucket{{le="+Inf",stage="auth"}} {count}\n'
                f'gateway_stage_seconds_count{{stage="auth"}} {count}\n'
                f'gateway_stage_seconds_sum{{stage="auth"}} {total}\n')  # fmt: skip

    before, after = stages.parse(text(10, 0.01, 10)), stages.parse(text(110, 0.06, 110))
    auth = stages.difference(before, after)["auth"]
    assert auth["count"] == 100 and auth["mean_ms"] == pytest.approx(0.5)
    assert 0 < auth["p50_ms"] <= 1.0


def test_the_report_states_each_target_and_whether_it_was_met() -> None:
    def phase(mode: str, rps: float, p50: float) -> dict[str, object]:
        return {"result": {"mode": mode, "requests": int(rps * 10), "errors": 0, "duration_s": 10.0, "p50_ms": p50,
                           "p90_ms": p50, "p99_ms": p50 * 2, "mean_ms": p50, "max_ms": p50 * 3, "extra": {},
                           "throughput": rps}}  # fmt: skip

    def system(c1: float, rps: float) -> dict[str, object]:
        return {"phases": {"c=1": phase("c=1", 1000 / c1, c1), "c=16": phase("c=16", rps, 16000 / rps)}}

    run = {
        "machine": {"cpu": "test", "cores": 2, "memory_gib": 1, "os": "Linux", "python": "3.11", "sut_cpu": 1,
                    "load_cpu": 0, "load_before": (0.0, 0.0, 0.0)},
        "versions": {}, "command": "python -m bench.overhead", "started": "now", "wall_s": 1.0, "rate": None,
        "upstream_served": {"completions": 1},
        "systems": {"direct": system(0.1, 10_000), "litellm": system(17.1, 60), "litellm-presidio": system(45, 20),
                    "ours-blind": system(1.1, 700), "ours-full": system(12.1, 190)},
    }  # fmt: skip
    text = report.markdown(run)
    assert "| (a) classification off vs plain LiteLLM | 1.00 ms / 17.00 ms | 0.059 |" in text
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| (")}
    assert lines["| (a) classification off vs plain LiteLLM"].endswith("| yes |")
    assert lines["| (b) full classification vs plain LiteLLM"].endswith("| no |")
    assert orjson.dumps(run)  # what the harness writes beside the Markdown



def test_the_report_shows_each_memory_check() -> None:
    """``--memory N`` checks both of our systems: the content-blind one and the one that classifies."""
    def checked(start: float, end: float) -> dict[str, object]:
        return {"phases": {}, "memory": {"requests": 100_000, "rss_mib": [(0, start), (50_000, end), (100_000, end)]}}

    run = {"systems": {"ours-blind": checked(505.0, 505.7), "ours-full": checked(560.2, 561.0)}}
    text = "\n".join(report._memory(run))
    assert "### Memory: ours, content-blind" in text and "### Memory: ours, full classification" in text
    assert "560.2 MiB at the start, 561.0 MiB at the end" in text
    assert "| 100,000 | 505.7 |" in text
    assert report._memory({"systems": {"ours-blind": {"phases": {}}}}) == []
