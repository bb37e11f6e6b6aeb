"""The loopback OpenAI upstream itself: protocol, recording, faults."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.upstreams.openai_server import CHAT_PATH, MODELS_PATH, OpenAIUpstream

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(api_key="sk-1", models=["a", "b"]) as upstream:
        yield upstream


@pytest.fixture
def up(server: OpenAIUpstream) -> OpenAIUpstream:
    server.reset()
    return server


@pytest.fixture
def client(up: OpenAIUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=up.base_url, headers={"authorization": "Bearer sk-1"}, trust_env=False) as client:
        yield client


def sse_events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]


def test_completion_usage_and_recording(up: OpenAIUpstream, client: httpx.Client) -> None:
    up.set_reply("Hi there", prompt_tokens=5, completion_tokens=2, cached_tokens=1)
    body = client.post("/chat/completions", json=BODY).json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hi there"}
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 1}
    (request,) = up.chat_requests
    assert (request.method, request.path, request.body, request.bearer) == ("POST", CHAT_PATH, BODY, "sk-1")


def test_stream_with_and_without_usage(client: httpx.Client) -> None:
    plain = sse_events(client.post("/chat/completions", json={**BODY, "stream": True}).text)
    assert plain[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in plain[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello from upstream"
    assert all("usage" not in c for c in chunks)
    options = {"stream": True, "stream_options": {"include_usage": True}}
    counted = [
        orjson.loads(e) for e in sse_events(client.post("/chat/completions", json={**BODY, **options}).text)[:-1]
    ]
    assert counted[-1]["choices"] == [] and counted[-1]["usage"]["total_tokens"] == 14


def test_auth_models_and_health(up: OpenAIUpstream, client: httpx.Client) -> None:
    assert httpx.post(f"{up.base_url}/chat/completions", json=BODY).status_code == 401
    wrong = httpx.post(f"{up.base_url}/chat/completions", json=BODY, headers={"authorization": "Bearer x"})
    assert wrong.status_code == 401
    assert [m["id"] for m in client.get("/models").json()["data"]] == ["a", "b"]
    assert httpx.get(f"{up.url}/health").json() == {"status": "ok"}


def test_faults_are_taken_in_order_and_per_path(up: OpenAIUpstream, client: httpx.Client) -> None:
    up.fail_next(502, times=2)
    up.rate_limit_next(retry_after=4)
    up.fail_next(503, path=MODELS_PATH)
    assert client.get("/models").status_code == 503
    statuses = [client.post("/chat/completions", json=BODY) for _ in range(4)]
    assert [r.status_code for r in statuses] == [502, 502, 429, 200]
    assert statuses[2].headers["retry-after"] == "4"
    assert "hi" in statuses[0].json()["error"]["message"]  # it echoes the prompt, as some upstreams do


def test_permanent_fault_until_cleared(up: OpenAIUpstream, client: httpx.Client) -> None:
    up.fail_next(500, times=None)
    assert {client.post("/chat/completions", json=BODY).status_code for _ in range(3)} == {500}
    up.clear_faults()
    assert client.post("/chat/completions", json=BODY).status_code == 200


def test_resets_hangs_and_malformed_bodies(up: OpenAIUpstream, client: httpx.Client) -> None:
    up.reset_before_headers_next()
    with pytest.raises(httpx.TransportError):
        client.post("/chat/completions", json=BODY)
    up.reset_mid_stream_next(after_chunks=2)
    seen: list[str] = []
    with (
        pytest.raises(httpx.TransportError),
        client.stream("POST", "/chat/completions", json={**BODY, "stream": True}) as r,
    ):
        seen.extend(line for line in r.iter_lines() if line.startswith("data: "))
    assert len(seen) == 2
    up.hang_next(5)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/chat/completions", json=BODY, timeout=0.2)
    up.malformed_json_next()
    response = client.post("/chat/completions", json=BODY)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    assert up.unfinished_bodies == 1
