"""``gateway policy explain --live``: open circuits in the replicas' Redis show as excluded targets."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from pathlib import Path

import pytest
import yaml
from redis.asyncio import Redis

from gateway.cli.policy import explain_command
from gateway.resilience.breaker import Breakers
from gateway.resilience.settings import BreakerSettings
from gateway.resilience.shared import SharedState
from tests.resilience.conftest import NonClosingClassifier, policy_text


def _args(policy: Path, config: Path, live: bool = True) -> argparse.Namespace:
    return argparse.Namespace(policy=str(policy), request=None, text="What is a basis point?", team=None,
                              model="onprem-first", unavailable=[], over_budget=False, live=live, config=str(config))


async def _open(redis_url: str, prefix: str, target: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        breakers = Breakers(BreakerSettings(consecutive_failures=2), SharedState(client, prefix=prefix))
        for _ in range(2):
            await breakers.record(target, False)
    finally:
        await client.aclose()


def test_explain_live_shows_open_circuits(
    tmp_path: Path, redis_url: str, real_classifier: NonClosingClassifier, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"vr-test-{secrets.token_hex(4)}:"
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"redis_url": redis_url, "resilience": {"redis_prefix": prefix}}))
    asyncio.run(_open(redis_url, prefix, "onprem"))

    assert explain_command(_args(policy, config), classifier=real_classifier) == 0  # type: ignore[arg-type]
    trace = json.loads(capsys.readouterr().out)
    [excluded] = trace["excluded"]
    assert excluded["target"] == "onprem" and excluded["reason"] == "unavailable"
    assert excluded["detail"].startswith("circuit open (2 failures in a row)")
    assert trace["decision"]["first_target"] == "external"

    assert explain_command(_args(policy, config, live=False), classifier=real_classifier) == 0  # type: ignore[arg-type]
    assert json.loads(capsys.readouterr().out)["decision"]["first_target"] == "onprem"


def test_explain_live_without_redis_says_why(
    tmp_path: Path, real_classifier: NonClosingClassifier, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"))
    config = tmp_path / "config.yaml"
    config.write_text("policy_watch_s: 0\n")
    assert explain_command(_args(policy, config), classifier=real_classifier) == 1  # type: ignore[arg-type]
    assert "--live reads circuit breakers from Redis" in capsys.readouterr().err
