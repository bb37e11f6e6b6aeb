"""Fixtures for the checks of deploy/: the tools (tests/deploy/tools.py) and the repository's paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.tools import ROOT, ToolMissing, tool

DEPLOY = ROOT / "deploy"


def run(name: str, *args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a deploy tool; a missing tool fails the test with how to install it."""
    try:
        binary = tool(name)
    except ToolMissing as exc:
        pytest.fail(str(exc))
    return subprocess.run([str(binary), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
