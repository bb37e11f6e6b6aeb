"""deploy/Dockerfile: hadolint finds nothing, and what the image relies on is where it says.

No container engine runs here, so the image is not built; what can be checked
without one is: the lint, the stages, the user, the health check, the
offline settings, and that every file the build copies exists and every
configuration it ships loads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway.config import load_config
from gateway.policy.holder import validate_text
from tests.deploy.conftest import DEPLOY, ROOT, run

DOCKERFILE = DEPLOY / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_hadolint_finds_nothing() -> None:
    result = run("hadolint", "--format", "json", "--no-fail", DOCKERFILE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_hadolint_does_find_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nRUN cd /tmp && make\n")
    result = run("hadolint", "--format", "json", "--no-fail", bad)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3013", "DL3003"} <= codes


def test_two_stages_a_non_root_user_a_health_check_and_no_network_at_start() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    assert len([rest for keyword, rest in steps if keyword == "FROM"]) == 2
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert int(users[-1].split(":")[0]) >= 10000
    (healthcheck,) = [rest for keyword, rest in steps if keyword == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "--start-period" in healthcheck
    env = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    for setting in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "LITELLM_LOCAL_MODEL_COST_MAP=True",
                    "GATEWAY_CONFIG=/etc/vaultroute/gateway.yaml"):
        assert setting in env
    installs = [rest for keyword, rest in steps if keyword == "RUN" and "pip install" in rest]
    for command in installs:
        for pip_install in command.split("pip install")[1:]:
            assert "--no-deps" in pip_install.split("&&")[0], pip_install
    assert "pip check" in " ".join(installs)
    locks = " ".join(installs)
    assert "--require-hashes --no-deps -r requirements.lock" in locks
    assert "requirements-test.lock" not in DOCKERFILE.read_text()  # no test tool in the image


def test_every_copied_file_exists_and_the_context_keeps_secrets_out() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    for keyword, rest in steps:
        if keyword == "COPY" and "--from=" not in rest:
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), source
    ignore = [line for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    assert ignore[0] == "**"  # everything is out unless named
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    for kept in allowed:
        assert not kept.startswith((".venv", "var", ".tools", ".git", "tests")), kept


def test_the_image_configuration_loads_and_its_policy_is_valid() -> None:
    config = load_config(str(DEPLOY / "gateway.container.yaml"), environ={})
    assert config.host == "0.0.0.0" and config.port == 8080
    assert config.var_dir == "/var/lib/vaultroute" and str(config.model_cache) == "/opt/vaultroute/models"
    # The image copies policies/ to /opt/vaultroute/policies.
    relative = Path(config.policy).relative_to("/opt/vaultroute")
    loaded, problems = validate_text((ROOT / relative).read_text(), str(relative))
    assert loaded is not None, problems
