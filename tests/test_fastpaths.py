"""The fast paths' switches: one ``fast_paths:`` section, ``GATEWAY_FAST_PATHS=off`` for all, and each
switch reaching the piece it turns back to its library (gateway/fastpaths.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.httpclient import HttpClient
from adapters.libraryclient import LibraryClient
from adapters.openai_compatible import OpenAICompatibleAdapter
from gateway.config import Config, ConfigError, load_config
from gateway.fastpaths import SWITCHES, FastPaths
from gateway.policy.model import Target
from gateway.targets import build_adapter


def test_every_switch_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_FAST_PATHS", raising=False)
    fast = load_config(environ={}).fast_paths
    assert all(getattr(fast, name) for name in SWITCHES) and set(SWITCHES) == set(FastPaths.model_fields)


def test_the_file_turns_one_off_and_the_environment_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_FAST_PATHS", raising=False)
    path = tmp_path / "gateway.yaml"
    path.write_text("fast_paths:\n  retry_loop: false\n")
    fast = load_config(str(path), environ={}).fast_paths
    assert (fast.retry_loop, fast.http_client, fast.compiled_ner) == (False, True, True)
    every = load_config(str(path), environ={"GATEWAY_FAST_PATHS": "off"})
    assert not any(getattr(every.fast_paths, name) for name in SWITCHES)
    assert every.classifier.compiled_ner is False
    monkeypatch.setenv("GATEWAY_FAST_PATHS", "off")  # also for configurations built in code (tests, tools)
    assert FastPaths.current() == FastPaths.libraries() == Config().fast_paths


def test_an_unknown_switch_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("fast_paths:\n  http_client: true\n  turbo: true\n")
    with pytest.raises(ConfigError, match=r"gateway.yaml:3:\d+: fast_paths.turbo"):
        load_config(str(path), environ={})


@pytest.mark.parametrize(
    ("text", "compiled"),
    [("", True), ("classifier:\n  compiled_ner: false\n", False), ("fast_paths:\n  compiled_ner: false\n", False)],
)
def test_the_old_ner_switch_and_the_new_one_are_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, compiled: bool
) -> None:
    monkeypatch.delenv("GATEWAY_FAST_PATHS", raising=False)
    path = tmp_path / "gateway.yaml"
    path.write_text(text or "{}\n")
    config = load_config(str(path), environ={})
    assert config.fast_paths.compiled_ner is compiled and config.classifier.compiled_ner is compiled


async def test_each_switch_reaches_its_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_FAST_PATHS", raising=False)
    target = Target.model_validate(
        {"kind": "openai_compatible", "api_base": "http://127.0.0.1:9/v1", "model": "m", "residency": "on_prem"}
    )
    for fast, kind in ((FastPaths(), HttpClient), (FastPaths.libraries(), LibraryClient)):
        adapter = build_adapter(Path("var/models"), fast)("t", target)
        assert isinstance(adapter, OpenAICompatibleAdapter)
        await adapter.start()
        assert type(adapter._client) is kind
        await adapter.close()


def test_switched_off_no_private_module_is_imported() -> None:
    """The fast paths' own modules (which reach into spaCy's private ones), the library client and
    tenacity are imported only where used."""
    code = (
        "import sys\n"
        "import gateway.classify.nlp, gateway.resilience.retry, adapters.openai_compatible\n"
        "bad = [m for m in ('gateway.classify.fastner', 'gateway.classify.fastner_layers', 'tenacity', "
        "'gateway.resilience.tenacity_retry', 'adapters.libraryclient') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
