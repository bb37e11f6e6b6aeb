"""The fault suite: the running gateway against loopback upstreams that fail on demand.

One test per failure. Each asserts what the client got, what each upstream
received, and what the ledger recorded. The on-prem target is an
``openai_compatible`` server, the external one is reached through litellm;
both are real HTTP servers on loopback (``tests/upstreams/openai_server.py``).
The breakers and rate limits keep their state in the real Redis.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import openai
import pytest

from tests.resilience.conftest import (
    CARD,
    FAST_RESILIENCE,
    GatewayFactory,
    Upstreams,
    policy_text,
    sse_events,
    sse_text,
)

pytestmark = pytest.mark.slow


def _policy(up: Upstreams, **kwargs: object) -> str:
    return policy_text(up.onprem.base_url, up.external.base_url, **kwargs)  # type: ignore[arg-type]


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# -- retries on the same target --------------------------------------------------------------


def test_a_5xx_is_retried_on_the_same_target(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    upstreams.onprem.fail_next(500)
    with gateway_server(_policy(upstreams)) as gw:
        response = gw.chat()
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "Hello from on-prem"
        assert response.headers["x-gateway-target"] == "onprem"
        assert response.headers["x-gateway-fallbacks"] == "1"
        [row] = gw.rows(1)
    assert len(upstreams.onprem.chat_requests) == 2
    assert upstreams.external.chat_requests == []
    assert row["outcome"] == "ok" and row["target"] == "onprem" and row["attempts"] == 2
    assert row["attempt_log"] == "onprem:error:upstream_error onprem:ok"


def test_a_reset_before_headers_is_retried(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    upstreams.onprem.reset_before_headers_next()
    with gateway_server(_policy(upstreams)) as gw:
        response = gw.chat()
        [row] = gw.rows(1)
    assert response.status_code == 200 and response.headers["x-gateway-target"] == "onprem"
    assert len(upstreams.onprem.chat_requests) == 2 and upstreams.external.chat_requests == []
    assert row["attempt_log"] == "onprem:error:upstream_error onprem:ok"


def test_malformed_json_is_retried(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    upstreams.onprem.malformed_json_next()
    with gateway_server(_policy(upstreams)) as gw:
        response = gw.chat()
        [row] = gw.rows(1)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello from on-prem"
    assert len(upstreams.onprem.chat_requests) == 2
    assert row["outcome"] == "ok" and row["attempts"] == 2


def test_429_waits_for_retry_after(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    upstreams.onprem.rate_limit_next(retry_after=1)
    with gateway_server(_policy(upstreams)) as gw:
        started = time.monotonic()
        response = gw.chat()
        elapsed = time.monotonic() - started
        [row] = gw.rows(1)
    assert response.status_code == 200 and response.headers["x-gateway-target"] == "onprem"
    assert elapsed >= 0.9, "the retry came before the upstream's Retry-After"
    assert len(upstreams.onprem.chat_requests) == 2
    assert row["attempt_log"] == "onprem:error:upstream_error onprem:ok"


def test_429_with_retry_after_above_the_cap_falls_back_at_once(
    gateway_server: GatewayFactory, upstreams: Upstreams
) -> None:
    upstreams.external.rate_limit_next(retry_after=60)
    with gateway_server(_policy(upstreams)) as gw:
        response = gw.chat(model="ext-first")
        [row] = gw.rows(1)
    assert response.status_code == 200 and response.headers["x-gateway-target"] == "onprem"
    assert len(upstreams.external.chat_requests) == 1  # not retried: 60 s is above retry_after_cap_s
    assert len(upstreams.onprem.chat_requests) == 1
    assert row["attempt_log"] == "external:error:upstream_error onprem:ok"


def test_an_upstream_refusing_the_request_is_the_clients_400_not_retried(
    gateway_server: GatewayFactory, upstreams: Upstreams
) -> None:
    upstreams.onprem.fail_next(400, code="context_length_exceeded")
    with gateway_server(_policy(upstreams)) as gw:
        response = gw.chat()
        [row] = gw.rows(1)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "upstream_rejected")
    assert "context_length_exceeded" in error["message"]
    assert "prompt was" not in response.text and "basis point" not in response.text
    assert len(upstreams.onprem.chat_requests) == 1
    assert row["outcome"] == "upstream_rejected" and row["attempt_log"] == "onprem:error:upstream_rejected"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_upstream_refusing_the_request_gets_no_fallback(
    gateway_server: GatewayFactory, upstreams: Upstreams, stream: bool
) -> None:
    """The next target would be sent the same bad request: it is not tried, and the SDKs get no 5xx to retry."""
    upstreams.external.fail_next(422, times=None)
    with gateway_server(_policy(upstreams)) as gw:
        response = gw.chat(model="ext-first", stream=stream)
        [row] = gw.rows(1)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    assert len(upstreams.external.chat_requests) == 1 and not upstreams.onprem.chat_requests
    assert row["attempt_log"] == "external:error:upstream_rejected"


# -- fallbacks ----------------------------------------------------------------------------------


def test_a_failing_target_falls_back_to_the_next(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    upstreams.external.fail_next(503, times=None)
    with gateway_server(_policy(upstreams)) as gw:
        response = gw.chat(model="ext-first")
        [row] = gw.rows(1)
    assert response.status_code == 200
    assert response.headers["x-gateway-target"] == "onprem"
    assert response.headers["x-gateway-residency"] == "on_prem"
    assert response.headers["x-gateway-fallbacks"] == "2"
    assert len(upstreams.external.chat_requests) == 2  # the first attempt and one retry
    assert len(upstreams.onprem.chat_requests) == 1
    assert row["attempt_log"] == "external:error:upstream_error external:error:upstream_error onprem:ok"


def test_restricted_request_with_its_onprem_target_down_gets_503_and_nothing_leaves(
    gateway_server: GatewayFactory, upstreams: Upstreams
) -> None:
    policy = policy_text(_dead_url(), upstreams.external.base_url)
    with gateway_server(policy) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0)
        for _ in range(3):  # unreachable, then its circuit opens: the answer stays the same
            with pytest.raises(openai.APIStatusError) as refused:
                client.chat.completions.create(model="onprem-first", messages=[{"role": "user", "content": CARD}])
            assert refused.value.status_code == 503
            assert refused.value.body["code"] == "no_target_available"  # type: ignore[index]
            assert "4111" not in refused.value.response.text
        rows = gw.rows(3)
        ready = gw.client.get("/readyz").json()
    assert upstreams.external.requests == []  # the external upstream received nothing, not even a probe
    assert [r["level"] for r in rows] == ["restricted"] * 3
    assert all(r["outcome"] == "no_target_available" and r["target"] is None for r in rows)
    assert "external" not in " ".join(r["attempt_log"] for r in rows)
    assert rows[0]["attempt_log"] == "onprem:not_sent:upstream_unreachable onprem:not_sent:upstream_unreachable"
    assert ready["circuits"]["onprem"] == "open"
    assert rows[-1]["attempt_log"] == ""  # excluded at decision time: its circuit is open


# -- streams ------------------------------------------------------------------------------------


def test_stream_hanging_before_its_first_token_falls_back(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    upstreams.onprem.hang_next(5, times=2)
    with gateway_server(_policy(upstreams)) as gw:
        response, lines = gw.stream_lines(model="onprem-first")
        [row] = gw.rows(1)
    assert response.status_code == 200
    assert response.headers["x-gateway-target"] == "external"
    assert sse_text(lines) == "Hello from external" and lines[-1] == "data: [DONE]"
    # after its 5 s hang on-prem would answer: external answering means the first-token timeout fired
    assert len(upstreams.onprem.chat_requests) == 2 and len(upstreams.external.chat_requests) == 1
    assert row["attempt_log"] == "onprem:timeout:upstream_timeout onprem:timeout:upstream_timeout external:ok"
    assert row["outcome"] == "ok" and row["target"] == "external"


def test_stream_reset_after_first_chunk_ends_with_an_error_event_and_no_done(
    gateway_server: GatewayFactory, upstreams: Upstreams
) -> None:
    upstreams.onprem.set_reply("one two three four five six", completion_tokens=6)
    upstreams.onprem.reset_mid_stream_next(after_chunks=3)
    with gateway_server(_policy(upstreams)) as gw:
        response, lines = gw.stream_lines(model="onprem-first")
        [row] = gw.rows(1)
    events = sse_events(lines)
    assert response.status_code == 200 and response.headers["x-gateway-target"] == "onprem"
    assert "data: [DONE]" not in lines
    assert events[-1]["error"]["code"] == "stream_interrupted"
    assert sse_text(lines).startswith("one")  # what came before the failure was delivered
    assert upstreams.external.chat_requests == []  # never continued elsewhere
    assert len(upstreams.onprem.chat_requests) == 1
    assert row["outcome"] == "stream_interrupted" and row["target"] == "onprem"
    assert row["completion_tokens"] > 0  # the partial answer is accounted for
    assert row["attempt_log"] == "onprem:interrupted:upstream_error"


def test_client_disconnect_cancels_the_upstream_and_records_the_tokens(
    gateway_server: GatewayFactory, upstreams: Upstreams
) -> None:
    upstreams.onprem.set_reply(" ".join(f"word{i}" for i in range(40)), completion_tokens=40)
    upstreams.onprem.slow_stream(0.1)
    body = {"model": "onprem-only", "messages": [{"role": "user", "content": "Count slowly."}], "stream": True}
    with gateway_server(_policy(upstreams)) as gw:
        with gw.client.stream("POST", "/v1/chat/completions", json=body) as response:
            received = []
            for line in response.iter_lines():
                if line.startswith("data: "):
                    received.append(line)
                if len(received) >= 4:
                    break  # the client goes away mid-answer
        [row] = gw.rows(1)
        [request] = upstreams.onprem.chat_requests
        deadline = time.monotonic() + 30  # a wait, not a speed target
        while request.client_port not in upstreams.onprem.unfinished_ports and time.monotonic() < deadline:
            time.sleep(0.05)
    # this request's upstream call was cut, not run to its end (a count would also take in streams of
    # earlier tests that end late on a loaded machine)
    assert request.client_port in upstreams.onprem.unfinished_ports
    assert row["outcome"] == "client_disconnected" and row["status_code"] == 499
    assert 0 < row["completion_tokens"] < 40


# -- deadlines, breakers, backpressure, budgets, rate limits -----------------------------------------


def test_the_request_deadline_bounds_all_attempts(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    upstreams.onprem.hang_next(10, times=None)
    upstreams.external.hang_next(10, times=None)
    with gateway_server(_policy(upstreams)) as gw:
        started = time.monotonic()
        response = gw.chat(model="short-deadline")  # route deadline_s: 1.5
        elapsed = time.monotonic() - started
        [row] = gw.rows(1)
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
    # the deadline is the behaviour: not before it, and long before either upstream's 10 s hang ends
    assert 1.2 <= elapsed < 9
    assert row["outcome"] == "upstream_timeout"
    assert len(upstreams.onprem.chat_requests) >= 1


def test_circuit_opens_shows_in_readyz_and_metrics_then_closes_after_a_probe(
    gateway_server: GatewayFactory, upstreams: Upstreams, redis_url: str
) -> None:
    upstreams.onprem.fail_next(500, times=None)
    with gateway_server(_policy(upstreams), redis_url=redis_url) as gw:
        first, second = gw.chat(model="onprem-first"), gw.chat(model="onprem-first")
        assert first.headers["x-gateway-target"] == second.headers["x-gateway-target"] == "external"
        sent_while_failing = len(upstreams.onprem.chat_requests)
        assert sent_while_failing == 3  # 3 failures in a row open it: the 4th attempt is never made
        ready = gw.client.get("/readyz").json()
        assert ready["circuits"]["onprem"] == "open"
        assert ready["targets"]["onprem"].startswith("unavailable: circuit open")
        assert ready["shared_state"] == "ok"
        assert 'gateway_circuit_state{target="onprem"} 2.0' in gw.client.get("/metrics").text

        third = gw.chat(model="onprem-first")
        assert third.headers["x-gateway-target"] == "external"
        assert len(upstreams.onprem.chat_requests) == sent_while_failing  # open: nothing sent

        upstreams.onprem.clear_faults()
        time.sleep(1.1)  # open_s: 1
        probe = gw.chat(model="onprem-first")
        assert probe.headers["x-gateway-target"] == "onprem"
        assert gw.client.get("/readyz").json()["circuits"]["onprem"] == "closed"
        rows = gw.rows(4)
    assert rows[2]["attempt_log"] == "external:ok"  # excluded at decision time
    assert rows[3]["attempt_log"] == "onprem:ok"


def test_a_full_target_makes_the_next_request_wait_then_503(
    gateway_server: GatewayFactory, upstreams: Upstreams
) -> None:
    upstreams.onprem.set_reply("a b c d e f g h", completion_tokens=8)
    upstreams.onprem.slow_stream(0.15)
    policy = _policy(upstreams, onprem_extra="max_in_flight: 1")
    with gateway_server(policy) as gw:
        holder = threading.Thread(target=gw.stream_lines)
        holder.start()
        deadline = time.monotonic() + 5
        while len(upstreams.onprem.chat_requests) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        refused = gw.chat()
        waited = time.monotonic() - started
        holder.join()
        rows = gw.rows(2)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"
    assert int(refused.headers["retry-after"]) >= 1
    assert waited >= 0.25  # it waited queue_wait_s (0.3) for a place
    assert len(upstreams.onprem.chat_requests) == 1
    overloaded = next(r for r in rows if r["outcome"] == "overloaded")
    assert overloaded["attempt_log"] == "onprem:not_sent:overloaded"


def test_the_retry_budget_bounds_extra_load_during_an_outage(
    gateway_server: GatewayFactory, upstreams: Upstreams
) -> None:
    upstreams.onprem.fail_next(503, times=None)
    settings = {
        **FAST_RESILIENCE,
        "retries": {"backoff_initial_s": 0.0, "backoff_max_s": 0.0, "jitter_s": 0.0, "max_attempts": 3,
                    "budget_ratio": 0.2, "budget_min_retries": 2, "budget_window_s": 60},
        "breaker": {"consecutive_failures": 1000, "min_calls": 1000},
    }
    with gateway_server(_policy(upstreams), resilience=settings) as gw:
        statuses = [gw.chat().status_code for _ in range(20)]
        rows = gw.rows(20)
    assert statuses == [502] * 20
    sent = len(upstreams.onprem.chat_requests)
    # Without a budget: 60 attempts. With it: 20 first attempts + 2 + 20% of 20.
    assert 20 < sent <= 26
    assert sum(r["attempts"] for r in rows) == sent


def test_rate_limit_per_key_gives_429_with_retry_after(
    gateway_server: GatewayFactory, upstreams: Upstreams, redis_url: str
) -> None:
    settings = {**FAST_RESILIENCE, "rate_limits": {"per_key": {"requests_per_minute": 3}}}
    with gateway_server(_policy(upstreams), resilience=settings, redis_url=redis_url) as gw:
        statuses = [gw.chat().status_code for _ in range(3)]
        limited = gw.chat()
        rows = gw.rows(3)
        metrics = gw.client.get("/metrics").text
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited.headers["retry-after"]) <= 20  # one request per 20 s
    assert len(upstreams.onprem.chat_requests) == 3
    assert len(rows) == 3  # refused before being accepted: no ledger row, nothing sent
    assert 'gateway_rate_limited_total{scope="key"} 1.0' in metrics


def test_rate_limit_on_team_tokens_counts_what_was_used(
    gateway_server: GatewayFactory, upstreams: Upstreams, redis_url: str
) -> None:
    upstreams.onprem.set_reply("x", prompt_tokens=600, completion_tokens=500)
    settings = {**FAST_RESILIENCE, "rate_limits": {"per_team": {"tokens_per_minute": 1000}}}
    with gateway_server(_policy(upstreams), resilience=settings, redis_url=redis_url) as gw:
        first = gw.chat()  # admitted on its estimate (~20 tokens), then charged the 1100 it used
        time.sleep(0.2)  # the charge is written off the request path
        second = gw.chat()
    assert first.status_code == 200
    assert second.status_code == 429 and "team 'payments'" in second.json()["error"]["message"]
    assert len(upstreams.onprem.chat_requests) == 1


def test_errors_never_echo_the_prompt_or_the_upstreams_body(
    gateway_server: GatewayFactory, upstreams: Upstreams
) -> None:
    upstreams.onprem.fail_next(500, times=None)
    with gateway_server(_policy(upstreams)) as gw:
        response = gw.chat("SECRET-PROMPT-TEXT please")
    assert response.status_code == 502
    assert "SECRET-PROMPT-TEXT" not in response.text and "127.0.0.1" not in response.text


def test_streams_on_a_healthy_target_are_unchanged(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    with gateway_server(_policy(upstreams)) as gw:
        response, lines = gw.stream_lines()
        direct = httpx.get(gw.url + "/healthz")
    assert response.status_code == 200 and lines[-1] == "data: [DONE]"
    assert sse_text(lines) == "Hello from on-prem"
    assert direct.json() == {"status": "ok"}
