"""The ``openai`` npm package, unmodified, against the gateway (``tests/clients/node``, installed by
``make node-clients`` from its ``package-lock.json``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.upstreams.gateway_between import RunningGateway

NODE_DIR = Path(__file__).parent / "node"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the npm client cannot be tried")


@pytest.mark.parametrize("model", ["bank-standard", "bank-premium"])
def test_chat_stream_and_a_refusal_from_the_npm_client(gateway: RunningGateway, model: str) -> None:
    assert NODE is not None
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run `make node-clients` (npm ci in tests/clients/node)"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "GATEWAY_URL": gateway.url, "GATEWAY_KEY": gateway.key, "MODEL": model}  # fmt: skip
    done = subprocess.run(
        [NODE, "chat.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["content"] == "Hello from upstream" and got["refusal"] is None and got["finish_reason"] == "stop"
    assert got["route"] == ("premium" if model == "bank-premium" else "default")
    assert got["streamed"] == "Hello from upstream" and got["total_tokens"] > 0
    assert got["refused"] == {"status": 400, "param": "store", "type": "invalid_request_error"}
