"""deploy/helm/vaultroute: rendered by helm itself, every manifest valid for Kubernetes, no security finding.

The chart is rendered with ``helm template`` (helm v4, tests/deploy/tools.py),
each manifest is validated offline against the Kubernetes JSON schemas of
``kubernetes-validate`` (strict: an unknown field fails), and checkov runs its
Kubernetes checks on the result: nothing may fail, and every skip carries its
reason in the manifest. Then what the schemas cannot know: the probes need no
key, the policy is mounted so that kubelet's updates reach the watcher, the
secrets are only referenced, and the NetworkPolicy lets out DNS and the
configured upstreams and nothing else.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.config import load_config
from gateway.policy.holder import validate_text
from tests.deploy.conftest import DEPLOY, run
from tests.deploy.tools import tool

CHART = DEPLOY / "helm" / "vaultroute"
PRODUCTION = Path(__file__).parent / "data" / "values-production.yaml"
MINIMAL = ("--set", "database.existingSecret=vaultroute-database")
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
SENSITIVE_ENV = ("DATABASE_URL", "REDIS_URL", "GATEWAY_CACHE_SECRET", "GATEWAY_CACHE_KEY", "OPENAI_API_KEY")


def render(*args: str | Path) -> list[dict[str, Any]]:
    result = run("helm", "template", "vr", CHART, "--namespace", "llm-gateway", *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(*args: str | Path) -> str:
    result = run("helm", "template", "vr", CHART, "--namespace", "llm-gateway", *args)
    assert result.returncode != 0, "the chart rendered values it should refuse"
    return result.stderr


def by_kind(manifests: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for manifest in manifests:
        kinds.setdefault(manifest["kind"], []).append(manifest)
    return kinds


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return render("-f", PRODUCTION)


@pytest.fixture(scope="module")
def minimal() -> list[dict[str, Any]]:
    return render(*MINIMAL)


def test_helm_lint_is_clean() -> None:
    for args in (MINIMAL, ("-f", str(PRODUCTION))):
        result = run("helm", "lint", "--strict", CHART, *args)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes(production: list[dict[str, Any]], minimal: list[dict[str, Any]],
                                            version: str) -> None:
    kinds = by_kind(production)
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "HorizontalPodAutoscaler",
            "NetworkPolicy", "ServiceAccount", "ServiceMonitor"} <= set(kinds)
    assert "Secret" not in kinds  # secrets by reference only
    for manifest in [*production, *minimal]:
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no schema in Kubernetes' own set; checked below
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_schemas_do_refuse_an_invalid_manifest(minimal: list[dict[str, Any]]) -> None:
    (deployment,) = by_kind(minimal)["Deployment"]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pot"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_service_monitor_scrapes_the_service_with_a_referenced_key(production: list[dict[str, Any]]) -> None:
    kinds = by_kind(production)
    (monitor,) = kinds["ServiceMonitor"]
    (service,) = kinds["Service"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": "vaultroute-monitor", "key": "key"}
    assert "serviceMonitor" not in json.dumps(by_kind(render(*MINIMAL)))  # off by default
    assert "bearerTokenSecret" in render_error(*MINIMAL, "--set", "serviceMonitor.enabled=true")


def _container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(manifests)["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def test_probes_send_no_key_and_the_pod_is_locked_down(production: list[dict[str, Any]]) -> None:
    (deployment,) = by_kind(production)["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = _container(production)
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert "httpHeaders" not in container[probe]["httpGet"]
        assert container[probe]["httpGet"]["port"] == container["ports"][0]["name"]
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180  # the local model warms up first
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert container["image"].endswith("@" + yaml.safe_load(PRODUCTION.read_text())["image"]["digest"])


def test_secrets_are_only_referenced(production: list[dict[str, Any]]) -> None:
    env = {item["name"]: item for item in _container(production)["env"]}
    assert set(SENSITIVE_ENV) <= set(env)
    for name in SENSITIVE_ENV:
        assert "value" not in env[name] and "secretKeyRef" in env[name]["valueFrom"], name
    assert render_error("--set", "redis.url=redis://user:password@redis:6379/0", *MINIMAL)


def test_the_configuration_loads_and_the_policy_reaches_the_watcher(production: list[dict[str, Any]],
                                                                   tmp_path: Path) -> None:
    kinds = by_kind(production)
    container = _container(production)
    (deployment,) = kinds["Deployment"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    config_maps = {c["metadata"]["name"]: c for c in kinds["ConfigMap"]}
    env = {item["name"]: item.get("value") for item in container["env"]}

    config_map = config_maps[volumes["config"]["configMap"]["name"]]
    config_path = Path(env["GATEWAY_CONFIG"] or "")
    assert config_path.parent == Path(mounts["config"]["mountPath"])
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(config_map["data"][config_path.name])
    config = load_config(str(config_file), environ={})
    assert config.limits.request_deadline_s == 90 and config.telemetry.access_log is False
    assert config.port == container["ports"][0]["containerPort"]
    assert config.var_dir == mounts["var"]["mountPath"]

    # kubelet updates a ConfigMap volume by a symlink swap, which the watcher sees
    # (tests/policy/test_holder.py); a subPath mount would never be updated.
    policy_mount = mounts["policy"]
    assert "subPath" not in policy_mount
    assert Path(config.policy).parent == Path(policy_mount["mountPath"])
    policy_map = config_maps[volumes["policy"]["configMap"]["name"]]
    loaded, problems = validate_text(policy_map["data"][Path(config.policy).name], "policy.yaml")
    assert loaded is not None, problems
    assert config.policy_watch_s > 0


def test_a_new_policy_is_reloaded_in_place_a_new_configuration_rolls_the_pods(tmp_path: Path) -> None:
    policy = tmp_path / "bank.yaml"
    policy.write_text((CHART / "files" / "policy.yaml").read_text().replace("cluster-bank-policy", "bank"))

    def checksum(*args: str | Path) -> str:
        (deployment,) = by_kind(render(*MINIMAL, *args))["Deployment"]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]  # type: ignore[no-any-return]

    base = checksum()
    assert checksum("--set-file", f"policy.content={policy}") == base
    assert checksum("--set", "gateway.logLevel=DEBUG") != base
    policy_map = [m for m in render(*MINIMAL, "--set-file", f"policy.content={policy}")
                  if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-policy")]
    assert "name: bank" in policy_map[0]["data"]["policy.yaml"]


def test_egress_is_dns_and_the_configured_upstreams_only(production: list[dict[str, Any]]) -> None:
    (policy,) = by_kind(production)["NetworkPolicy"]
    spec = policy["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    dns, *rest = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    configured = yaml.safe_load(PRODUCTION.read_text())["networkPolicy"]["egress"]
    assert [{"to": r["to"], "ports": r["ports"]} for r in rest] == [
        {"to": c["to"], "ports": c["ports"]} for c in configured]
    for rule in spec["egress"]:
        assert rule.get("to") and rule.get("ports")  # an empty 'to' would allow every destination
    (deployment,) = by_kind(production)["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()


def test_refused_values_say_why(tmp_path: Path) -> None:
    open_rule = tmp_path / "open.yaml"
    anywhere = {"name": "anywhere", "ports": [{"port": 443}]}
    open_rule.write_text(yaml.safe_dump({"networkPolicy": {"egress": [anywhere]}}))
    assert "missing property 'to'" in render_error(*MINIMAL, "-f", open_rule)
    assert "shared PostgreSQL" in render_error("--set", "replicaCount=3", "--set", "autoscaling.enabled=false")
    assert "additional properties" in render_error(*MINIMAL, "--set", "gateway.prot=8080").lower()


def test_scaling_and_disruption_target_the_gateway_pods(production: list[dict[str, Any]]) -> None:
    kinds = by_kind(production)
    (deployment,) = kinds["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (hpa,) = kinds["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert hpa["spec"]["minReplicas"] >= 3 and "replicas" not in deployment["spec"]  # the HPA owns the count
    (pdb,) = kinds["PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (service,) = kinds["Service"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == _container(production)["ports"][0]["name"]
    fixed = by_kind(render(*MINIMAL, "--set", "autoscaling.enabled=false"))
    assert fixed["Deployment"][0]["spec"]["replicas"] == 3 and "HorizontalPodAutoscaler" not in fixed


def test_checkov_finds_nothing_and_every_skip_says_why(tmp_path: Path) -> None:
    rendered = run("helm", "template", "vr", CHART, "--namespace", "llm-gateway", "-f", PRODUCTION)
    assert rendered.returncode == 0, rendered.stderr
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "vaultroute.yaml").write_text(rendered.stdout)
    checkov = tool("checkov")
    result = run("checkov", "--directory", tmp_path / "manifests", "--framework", "kubernetes", "--output", "json",
                 "--compact", "--skip-download", cwd=tmp_path, timeout=300,
                 env={"PATH": str(checkov.parent), "HOME": str(tmp_path), "BC_SKIP_MAPPING": "TRUE"})
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r["results"]["failed_checks"]]
    assert failed == []
    summary = reports[0]["summary"]
    assert summary["passed"] >= 50 and summary["resource_count"] >= 8, summary
    skipped = [c for r in reports for c in r["results"]["skipped_checks"]]
    assert {c["check_id"] for c in skipped} == {"CKV_K8S_35"}  # deployment.yaml says why
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment") or "") > 40, check["check_id"]
    passed = {c["check_id"] for r in reports for c in r["results"]["passed_checks"]}
    assert {"CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_22", "CKV_K8S_40", "CKV_K8S_38"} <= passed  # digest, pull, ro fs, uid


def test_the_readme_install_command_renders() -> None:
    root = CHART.parents[2]
    readme = (root / "README.md").read_text().replace("\\\n", " ")
    (command,) = [line.strip() for line in readme.splitlines() if line.strip().startswith("helm install ")]
    words = shlex.split(command)
    assert words[:4] == ["helm", "install", "vaultroute", "deploy/helm/vaultroute"]
    stand_ins = {"my-values.yaml": str(Path(__file__).parent / "data" / "values-readme.yaml"),
                 "policy.content=policies/bank.yaml": f"policy.content={root / 'policies' / 'default.yaml'}"}
    result = run("helm", "template", *[stand_ins.get(w, w) for w in words[2:]])
    assert result.returncode == 0, result.stderr
    kinds = by_kind([doc for doc in yaml.safe_load_all(result.stdout) if doc])
    (deployment,) = kinds["Deployment"]
    assert deployment["metadata"]["name"] == "vaultroute"  # the README's `kubectl exec deploy/vaultroute`
    assert deployment["metadata"]["namespace"] == "llm-gateway"
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "vaultroute-database"
    assert env["GATEWAY_PSEUDONYM_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "vaultroute-pseudonym"
    policy = [m for m in kinds["ConfigMap"] if m["metadata"]["name"] == "vaultroute-policy"]
    assert "name: default-bank-policy" in policy[0]["data"]["policy.yaml"]
    for manifest in kinds["Deployment"] + kinds["NetworkPolicy"]:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSIONS[-1], strict=True)
