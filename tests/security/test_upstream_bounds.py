"""A misbehaving upstream costs the gateway bounded memory, and the gateway keeps answering.

``gateway serve`` runs as a process of its own in front of ``HostileUpstream``
(``tests/security/hostile_upstream.py``): a stream of 400 MB without usage, a
400 MB body, a body that never ends, a 400 MB header, a hundred thousand
headers. Each reaches the gateway through an ``openai_compatible`` target (our
HTTP client) and through a ``litellm`` target (litellm over our bounded aiohttp
session), streaming and not. Every such request fails as an upstream error
(``upstream_response_too_large``), is recorded in the ledger, and never hangs;
``/healthz`` is answered throughout and a polite request after each attack
still gets its answer; the gateway's peak resident memory (``VmHWM``) grows by
a bounded amount. The litellm targets' stream limit is lowered here, because
litellm spends about a millisecond per chunk (bench/upstream_bounds.py runs
the default limits and reports the figures).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, select

from gateway.ledger.schema import ledger
from tests.security.gateway_process import GatewayProcess, HealthWatch
from tests.security.hostile_upstream import HostileUpstream

pytestmark = pytest.mark.slow
KEY_ENV = "HOSTILE_UPSTREAM_KEY"
STREAMED = ("huge_stream", "huge_headers", "many_headers")
UNSTREAMED = ("huge_body", "endless_body", "huge_headers", "many_headers")
GROWTH_BOUND_MIB = 300  # generous: what the attacks may add to the gateway's peak memory, all together
VOLUME = 128 << 20  # what each attack would send: far past every limit (bench/upstream_bounds.py: 400 MB)
# Streams cost the gateway CPU per event (litellm: about a millisecond): smaller stream limits keep the test short.
TEST_LIMITS = {"oc": "{max_stream_bytes: 4194304}", "ll": "{max_stream_bytes: 1048576}"}


def hostile_policy(upstream: HostileUpstream, *, limits: dict[str, str] | None = None) -> str:
    """A content-blind policy with one virtual model per (kind, mode): ``oc-huge_stream``, ``ll-huge_body``...;
    ``limits``: each kind's ``limits`` block in YAML flow style (``{"ll": "{max_stream_bytes: 1048576}"}``)."""
    targets, models, routes = [], [], []
    for mode in ("polite", *sorted(set(STREAMED + UNSTREAMED))):
        for kind, prefix in (("openai_compatible", "oc"), ("litellm", "ll")):
            name = f"{prefix}-{mode}"
            model = "openai/m" if kind == "litellm" else "m"
            block = (limits or {}).get(prefix)
            limit_line = f"\n    limits: {block}" if block else ""
            targets.append(f"  {name}:\n    kind: {kind}\n    model: {model}\n    api_base: {upstream.base(mode)}\n"
                           f"    api_key_env: {KEY_ENV}\n    residency: on_prem{limit_line}")  # fmt: skip
            models.append(f"  {name}: {{tier: {name}}}")
            routes.append(f"  - name: {name}\n    when: {{tier: {name}}}\n    targets: [{name}]")
    return (
        "version: 1\nname: hostile\nlevels: [public, internal, confidential, restricted]\n"
        "classification: {default_level: internal, on_error: restricted, entities: {}}\n"
        "targets:\n" + "\n".join(targets) + "\nmodels:\n" + "\n".join(models) + "\nroutes:\n" + "\n".join(routes) + "\n"
    )


def chat(gateway: GatewayProcess, model: str, *, stream: bool) -> tuple[int, str, bytes]:
    """Status, request id and the body (at most 256 MiB read) of one completion request."""
    body = {"model": model, "messages": [{"role": "user", "content": "Hello"}], "stream": stream}
    headers = {"authorization": f"Bearer {gateway.key}"}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=headers,
                      timeout=httpx.Timeout(120, connect=10)) as response:  # fmt: skip
        tail = b""
        read = 0
        for piece in response.iter_raw():
            read += len(piece)
            tail = (tail + piece)[-4096:]
            assert read < 256 << 20, "the gateway passed on more than any limit allows"
        return response.status_code, response.headers.get("x-request-id", ""), tail


def attempt_log(work: Path, request_id: str) -> str:
    engine = create_engine(f"sqlite:///{work}/gateway.db")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                row = conn.execute(select(ledger.c.attempt_log).where(ledger.c.request_id == request_id)).first()
            if row is not None:
                return str(row[0])
            time.sleep(0.2)
        raise AssertionError(f"no ledger row for {request_id}")
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, HostileUpstream]]:
    work = tmp_path_factory.mktemp("upstream-bounds")
    with HostileUpstream(volume=VOLUME) as upstream:
        policy = hostile_policy(upstream, limits=TEST_LIMITS)
        with GatewayProcess(work, policy, env={KEY_ENV: "sk-hostile"}) as gateway:
            yield gateway, upstream


CASES = [(kind, mode, True) for kind in ("oc", "ll") for mode in STREAMED] + [
    (kind, mode, False) for kind in ("oc", "ll") for mode in UNSTREAMED
]


def test_hostile_upstreams_cost_bounded_memory_and_the_gateway_keeps_answering(
    served: tuple[GatewayProcess, HostileUpstream],
) -> None:
    gateway, upstream = served
    for kind in ("oc", "ll"):  # warm both paths first: the baseline includes what serving costs anyway
        for stream in (False, True):
            status, _, _ = chat(gateway, f"{kind}-polite", stream=stream)
            assert status == 200
    baseline = gateway.peak_rss_mib()
    peaks: dict[str, float] = {}
    with HealthWatch(gateway.url) as health:
        for kind, mode, stream in CASES:
            status, request_id, tail = chat(gateway, f"{kind}-{mode}", stream=stream)
            if status == 200:  # the stream had begun: it ends with an error event, not [DONE]
                assert stream and b"data: [DONE]" not in tail and b'"error"' in tail, (kind, mode, tail[-300:])
            else:  # the client sees the contract's 502; the ledger says which limit
                assert status == 502, (kind, mode, status, tail)
                assert orjson.loads(tail)["error"]["code"] == "upstream_error"
            outcome = "interrupted" if status == 200 else "error"  # one attempt: never retried
            assert attempt_log(gateway.work, request_id) == f"{kind}-{mode}:{outcome}:upstream_response_too_large"
            assert chat(gateway, f"{kind}-polite", stream=stream)[0] == 200  # others are still served
            peaks[f"{kind}-{mode}-{'stream' if stream else 'body'}"] = gateway.peak_rss_mib()
    print(f"\npeak RSS (VmHWM) of gateway serve: baseline {baseline:.0f} MiB; after each attack: "
          + ", ".join(f"{name} {peak:.0f}" for name, peak in peaks.items())
          + f"; /healthz answered {health.answers} times, slowest {health.slowest_s * 1000:.0f} ms")  # fmt: skip
    assert health.failures == [] and health.answers > 0
    assert max(peaks.values()) - baseline < GROWTH_BOUND_MIB, (baseline, peaks)
    assert upstream.sent["huge_stream"] < upstream.volume  # the gateway hung up on it, it did not read it all


def test_gateway_serve_has_the_front_door_limits(served: tuple[GatewayProcess, HostileUpstream]) -> None:
    """The protocol with the limits is the one ``gateway serve`` runs (the rest: test_front_door.py)."""
    gateway, _ = served
    with socket.create_connection(("127.0.0.1", int(gateway.url.rsplit(":", 1)[1])), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nx-big: " + b"a" * (64 << 10) + b"\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 431 ")
