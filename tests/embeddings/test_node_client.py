"""The official ``openai`` npm package against ``POST /v1/embeddings`` of a running gateway.

The package is installed under ``tests/clients/node/`` (its ``package.json``; ``make test``
runs ``npm ci`` there). Skipped, with the reason, only where Node.js or that install is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.embeddings.test_gateway import POLICY, embedding_bodies
from tests.upstreams.embeddings_reply import vector_for
from tests.upstreams.gateway_between import RunningGateway, gateway_between

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
SCRIPT = NODE_DIR / "embeddings.mjs"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (apt-get install nodejs)"),
    pytest.mark.skipif(
        not (NODE_DIR / "node_modules" / "openai").is_dir(),
        reason="the openai npm package is not installed: run `npm ci` in tests/clients/node (make test does)",
    ),
]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("node-embeddings"), POLICY) as gateway:
        yield gateway


def test_the_openai_npm_package_embeds_through_the_gateway(running: RunningGateway) -> None:
    env = {**os.environ, "GATEWAY_URL": running.url, "GATEWAY_KEY": running.key, "MODEL": "bank-embed"}
    done = subprocess.run(["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["object"] == "list" and got["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    assert got["float"] == [vector_for("What is a bond?"), vector_for("Explain duration risk.")]
    assert got["default"] == vector_for("Interest rate swaps")
    assert got["card"] == {"target": "onprem-embed", "level": "restricted"}
    assert all("4111" not in str(body) for body in embedding_bodies(running.external))
    assert got["bad"]["status"] == 400 and got["bad"]["type"] == "invalid_request_error"
    assert got["bad"]["param"] == "input" and got["bad"]["name"] == "BadRequestError"
