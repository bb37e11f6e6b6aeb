"""deploy/compose.yaml: Compose loads it (schema, interpolation, references), and its pieces agree.

``docker-compose config`` (Docker Compose v2, tests/deploy/tools.py) loads the
file exactly as ``docker compose up`` would, without a container engine: the
compose-spec schema, variable interpolation, and the references Compose
checks (services in ``depends_on``, networks, volumes, configs, secrets). On
top, the references Compose cannot know: the load balancer's backends are the
gateway replicas, Prometheus scrapes each of them, the gateway's configuration
points at the mounted policy, the policy's vLLM target is the vllm service,
and the URLs name the Redis and PostgreSQL services.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.config import load_config
from gateway.policy.holder import validate_text
from tests.deploy.conftest import DEPLOY, run

SECRETS = {"POSTGRES_PASSWORD": "pw", "GATEWAY_CACHE_SECRET": "s" * 32, "GATEWAY_CACHE_KEY": "k" * 44}


def _config(compose_file: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    given = SECRETS if env is None else env
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(compose_file.parent), **given}
    return run("docker-compose", "-f", compose_file, "config", "--format", "json", cwd=compose_file.parent,
               env=environ)


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    result = _config(DEPLOY / "compose.yaml")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _file(model: dict[str, Any], kind: str, name: str) -> Path:
    return Path(model[kind][name]["file"])


def _mounted(model: dict[str, Any], service: str, target: str) -> Path:
    for config in model["services"][service].get("configs", []):
        if config["target"] == target:
            return _file(model, "configs", config["source"])
    raise AssertionError(f"{service} mounts nothing at {target}")


def _gateways(model: dict[str, Any]) -> list[str]:
    return sorted(name for name, service in model["services"].items()
                  if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile")


def _haproxy_servers(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*server\s+(\S+)\s+(\S+)", text, flags=re.MULTILINE))


def test_compose_loads_it_and_needs_the_secrets_from_the_environment(model: dict[str, Any]) -> None:
    assert len(_gateways(model)) == 3
    assert {"haproxy", "redis", "postgres", "vllm", "prometheus"} <= set(model["services"])
    missing = _config(DEPLOY / "compose.yaml", env={})
    assert missing.returncode != 0
    assert "required variable" in missing.stderr and any(name in missing.stderr for name in SECRETS)


def test_compose_refuses_broken_references_and_unknown_fields(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY / "compose", tmp_path / "compose")
    text = (DEPLOY / "compose.yaml").read_text()
    for broken in (text.replace("  haproxy: {condition: service_started}", "  lb: {condition: service_started}"),
                   text.replace("networks: [data]\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\"",
                                "networks: [cache]\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\""),
                   text.replace("    secrets: [monitor_key]", "    secrets: [scrape_key]"),
                   text.replace("    ipc: host\n", "    ipc: host\n    gpus_please: all\n")):  # the schema
        assert broken != text
        (tmp_path / "compose.yaml").write_text(broken)
        assert _config(tmp_path / "compose.yaml").returncode != 0


def test_the_load_balancer_sends_to_every_replica_and_checks_readiness(model: dict[str, Any]) -> None:
    config = _mounted(model, "haproxy", "/usr/local/etc/haproxy/haproxy.cfg")
    text = config.read_text()
    servers = _haproxy_servers(text)
    gateway_port = load_config(str(_mounted(model, "gateway-1", "/etc/vaultroute/gateway.yaml")), environ={}).port
    assert sorted(servers) == _gateways(model)
    for name, address in servers.items():
        host, port = address.rsplit(":", 1)
        assert host == name and int(port) == gateway_port
        assert set(model["services"][host]["networks"]) & set(model["services"]["haproxy"]["networks"])
    assert "option httpchk GET /readyz" in text  # answerable without a key
    assert set(model["services"]["haproxy"]["depends_on"]) == set(servers)
    assert model["services"]["haproxy"]["ports"][0]["target"] == int(re.search(r"bind :(\d+)", text)[1])  # type: ignore[index]


def test_haproxy_accepts_its_configuration() -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.fail("haproxy is not installed (apt-get install haproxy)")
    result = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "compose" / "haproxy.cfg")], capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_prometheus_scrapes_each_replica_with_a_monitor_key(model: dict[str, Any]) -> None:
    config = yaml.safe_load(_mounted(model, "prometheus", "/etc/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    gateway_job = jobs["vaultroute"]
    targets = [t for group in gateway_job["static_configs"] for t in group["targets"]]
    assert sorted(t.split(":")[0] for t in targets) == _gateways(model)
    assert gateway_job["metrics_path"] == "/metrics"
    secret = gateway_job["authorization"]["credentials_file"]
    assert secret == "/run/secrets/" + model["services"]["prometheus"]["secrets"][0]["source"]
    haproxy_target = jobs["haproxy"]["static_configs"][0]["targets"][0]
    haproxy_cfg = _mounted(model, "haproxy", "/usr/local/etc/haproxy/haproxy.cfg").read_text()
    assert f"bind :{haproxy_target.split(':')[1]}" in haproxy_cfg
    for name in [*_gateways(model), "haproxy"]:
        assert set(model["services"][name]["networks"]) & set(model["services"]["prometheus"]["networks"])


def test_replicas_reach_redis_postgres_and_vllm_as_their_urls_and_policy_say(model: dict[str, Any]) -> None:
    services = model["services"]
    postgres_env = services["postgres"]["environment"]
    for name in _gateways(model):
        gateway = services[name]
        env = gateway["environment"]
        config = load_config(str(_mounted(model, name, "/etc/vaultroute/gateway.yaml")), environ=env)
        database = urlsplit(config.database_url)
        assert database.hostname == "postgres" and database.username == postgres_env["POSTGRES_USER"]
        assert database.path == "/" + postgres_env["POSTGRES_DB"]
        assert database.password == postgres_env["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
        assert urlsplit(config.redis_url or "").hostname == "redis"
        policy_file = _mounted(model, name, config.policy)
        loaded, problems = validate_text(policy_file.read_text(), str(policy_file))
        assert loaded is not None, problems
        vllm_targets = [t for t in loaded.policy.targets.values() if t.kind == "openai_compatible"]
        assert vllm_targets
        command = services["vllm"]["command"]
        for target in vllm_targets:
            url = urlsplit(target.api_base or "")
            assert url.hostname == "vllm" and url.port == int(command[command.index("--port") + 1])
            assert target.model == command[command.index("--served-model-name") + 1]
        for dependency in ("postgres", "redis", "vllm"):
            assert dependency in gateway["depends_on"]
            assert set(gateway["networks"]) & set(services[dependency]["networks"]), (name, dependency)
        assert {v["target"] for v in gateway["volumes"]} == {config.var_dir}  # the spool on a volume
        assert gateway["read_only"] is True and gateway["cap_drop"] == ["ALL"]


def test_data_stores_and_the_model_server_have_no_way_out(model: dict[str, Any]) -> None:
    networks = model["networks"]
    for service in ("redis", "postgres", "vllm"):
        for network in model["services"][service]["networks"]:
            assert networks[network].get("internal") is True, (service, network)


def test_no_secret_is_written_in_the_files() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|_KEY)\s*:", line) and not line.strip().startswith("#"):
            assert "${" in line, line
    assert "postgresql://vaultroute:${POSTGRES_PASSWORD" in text
