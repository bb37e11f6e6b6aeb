"""``gateway serve`` with a configuration that cannot work: one line on stderr, a non-zero exit, no traceback.

Each case is a real ``gateway serve`` process (all started at once, so the
module takes the time of the slowest); none gets as far as loading a model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "default.yaml"
GOOD_SECRET = "s" * 40


@dataclass(frozen=True)
class Case:
    env: dict[str, str]
    args: tuple[str, ...]
    exit_code: int
    says: tuple[str, ...]
    hides: tuple[str, ...] = ()


def _write_files(tmp: Path) -> None:
    (tmp / "broken.yaml").write_text("version: 1\nname: x\nlevels: [public]\ntargets: {}\nroutes: nope\n")
    (tmp / "gateway.yaml").write_text("host: 0.0.0.0\nworkers: many\n")


def _cases(tmp: Path) -> dict[str, Case]:
    broken_policy, bad_config = tmp / "broken.yaml", tmp / "gateway.yaml"
    return {
        "cache key not base64": Case({"GATEWAY_CACHE_SECRET": GOOD_SECRET, "GATEWAY_CACHE_KEY": "not base64!"}, (),
                                     1, ("GATEWAY_CACHE_KEY", "base64"), ("not base64!",)),
        "cache secret without key": Case({"GATEWAY_CACHE_SECRET": GOOD_SECRET}, (), 1, ("GATEWAY_CACHE_KEY",),
                                         (GOOD_SECRET,)),
        "policy missing": Case({}, ("--policy", str(tmp / "none.yaml")), 1, ("none.yaml", "does not exist")),
        "policy unreadable": Case({}, ("--policy", str(tmp)), 1, ("cannot be read",)),
        "policy invalid": Case({}, ("--policy", str(broken_policy)), 1, ("broken.yaml:", "gateway policy validate")),
        "database unreachable": Case({"DATABASE_URL": "postgresql://gw:hunter2-secret@127.0.0.1:1/gateway"}, (),
                                     1, ("cannot reach the database", "127.0.0.1:1"), ("hunter2-secret",)),
        "config invalid": Case({"GATEWAY_CONFIG": str(bad_config)}, (), 2, ("gateway.yaml:2:10", "workers")),
        "config missing": Case({"GATEWAY_CONFIG": str(tmp / "no-config.yaml")}, (), 2,
                               ("no-config.yaml", "cannot read")),
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Case, int, str, str]]:
    tmp = tmp_path_factory.mktemp("startup")
    _write_files(tmp)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("GATEWAY_", "DATABASE_URL", "REDIS_URL"))}
    base |= {"GATEWAY_POLICY": str(POLICY), "DATABASE_URL": f"sqlite:///{tmp}/gateway.db", "GATEWAY_PORT": "0"}
    running = {}
    for name, case in _cases(tmp).items():
        running[name] = (case, subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", *case.args], cwd=tmp, env={**base, **case.env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for name, (case, process) in running.items():
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"{name}: gateway serve did not stop on a bad configuration")
        results[name] = (case, process.returncode, out, err)
    return results


@pytest.mark.parametrize("name", sorted(_cases(Path("/tmp"))))
def test_a_bad_configuration_ends_in_one_clear_line(outcomes: dict[str, tuple[Case, int, str, str]],
                                                    name: str) -> None:
    case, code, out, err = outcomes[name]
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == case.exit_code, (code, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err and out == ""
    for needle in case.says:
        assert needle in lines[0], lines[0]
    for secret in case.hides:
        assert secret not in err
