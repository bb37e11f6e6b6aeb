"""A running gateway for the API tests: the real classifier between two recording loopback upstreams.

Requests classified ``internal`` (nothing found) go to the external upstream;
anything above stays on-prem. One gateway serves every end-to-end test of
``tests/apis`` (starting one loads litellm and the classifier).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator

import pytest

from gateway.classify.engine import DetectionEngine
from tests.upstreams.gateway_between import RunningGateway, gateway_between

POLICY = """
version: 1
name: apis
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: m-onprem
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
  external:
    kind: openai_compatible
    api_base: {external}
    model: m-external
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
models:
  bank-standard: {{tier: standard}}
routes:
  - name: above-internal-stays-on-prem
    when: {{level_at_least: confidential}}
    targets: [onprem]
  - name: default
    targets: [external]
"""

CARD = "4111 1111 1111 1111"


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("apis"), POLICY, engine=DetectionEngine()) as gw:
        yield gw


@pytest.fixture
def gw(gateway: RunningGateway) -> RunningGateway:
    """The running gateway, its upstreams reset to their plain replies and empty records."""
    gateway.external.reset()
    gateway.onprem.reset()
    return gateway


def recorded_api(gw: RunningGateway, request_id: str) -> tuple[str | None, str | None]:
    """The ``api`` of one request in the ledger and in the audit trail (the writers batch off the
    request path: their rows are waited for, up to 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        with sqlite3.connect(gw.database) as db:
            row = db.execute("SELECT api FROM ledger WHERE request_id = ?", (request_id,)).fetchone()
            audit = db.execute("SELECT body FROM audit_log WHERE request_id = ?", (request_id,)).fetchone()
        if (row and audit) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert row is not None and audit is not None, "the request was not recorded"
    return row[0], json.loads(audit[0]).get("api", "chat")
