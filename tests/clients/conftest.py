"""Official clients against a running gateway between two loopback upstreams (``gateway_between``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.classify.engine import DetectionEngine
from tests.upstreams.gateway_between import RunningGateway, gateway_between

POLICY = """
version: 1
name: official-clients
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted}}
targets:
  vllm:
    kind: openai_compatible
    api_base: {onprem}
    model: m-vllm
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
  closed:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {external}
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
models:
  bank-standard: {{tier: standard}}
  bank-premium: {{tier: premium}}
routes:
  - {{name: sensitive-stays-on-prem, when: {{level_at_least: confidential}}, targets: [vllm]}}
  - {{name: premium, when: {{tier: premium}}, targets: [closed]}}
  - {{name: default, targets: [vllm]}}
"""

TOOL_CALL = {"id": "call_7", "type": "function", "function": {"name": "get_rate", "arguments": '{"currency": "EUR"}'}}


@pytest.fixture(scope="session")
def detection_engine() -> DetectionEngine:
    return DetectionEngine()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("clients"), POLICY, engine=detection_engine) as gw:
        yield gw


@pytest.fixture(autouse=True)
def _fresh(gateway: RunningGateway) -> None:
    for upstream in (gateway.external, gateway.onprem):
        upstream.reset()
        upstream.set_reply("Hello from upstream")
