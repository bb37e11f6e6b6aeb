"""The processes of one run: the upstream, our gateway, the LiteLLM proxy, Presidio's REST server.

Each system under test runs pinned to its own CPU (``--sut-cpu``), every
process it needs included (LiteLLM with Presidio: both processes share that
CPU), one worker each; the upstream and the load generators share the other
CPU. So each system gets the same compute, and what one system's helper
processes cost is charged to that system.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OUR_KEY = "sk-bench-gateway-key"
PEER_KEY = "sk-bench-litellm-master"
MODEL = "bench-model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_s(self) -> float:
        """CPU time (user + system) used so far by the process and its children, in seconds."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.pid, *_children(self.pid)]:
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def rss_mib(self) -> float:
        """Resident memory of the process and its children (uvicorn may fork one)."""
        pids = [self.pid, *_children(self.pid)]
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (a process that forks workers)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for child in (int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()):
            found += [child, *_children(child)]
    return found


def _pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if cpu is not None else list(command)


def start(
    name: str,
    command: Sequence[str],
    url: str,
    ready_path: str,
    workdir: Path,
    *,
    cpu: int | None,
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 240,
) -> Process:
    log = workdir / f"{name}.log"
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log, "wb") as out:
        popen = subprocess.Popen(_pinned(command, cpu), stdout=out, stderr=subprocess.STDOUT, env=environment,
                                 cwd=workdir, start_new_session=True)  # fmt: skip
    process = Process(name, popen, url, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited with {popen.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + ready_path, headers=dict(headers or {}), timeout=2).status_code < 500:
                return process
        time.sleep(0.5)
    process.stop()
    raise RuntimeError(f"{name} did not become ready in {timeout_s:g} s; see {log}")


@contextlib.contextmanager
def running(process: Process) -> Iterator[Process]:
    try:
        yield process
    finally:
        process.stop()


# -- the upstream ------------------------------------------------------------------


def upstream(workdir: Path, cpu: int | None) -> Process:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bench.overhead.upstream", "--port", str(port)]
    return start("upstream", command, url, "/health", workdir, cpu=cpu, env={"PYTHONPATH": str(ROOT)})


# -- our gateway -------------------------------------------------------------------


def gateway(
    workdir: Path, policy: str, upstream_url: str, cpu: int | None, *, log_level: str = "INFO",
    fast_paths_off: tuple[str, ...] = (),
) -> Process:  # fmt: skip
    """``gateway serve`` with its defaults (SQLite ledger and audit under ``workdir``, in-process
    cache, INFO logs), the benchmark policy pointed at the upstream, one worker, one static key, and
    the per-request access log off: the production setting of docs/performance.md (the audit trail
    records every request), as the peer runs with its production ``LITELLM_LOG=ERROR``."""
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix=f"gw-{policy}-", dir=workdir))
    source = yaml.safe_load((HERE / "policies" / f"{policy}.yaml").read_text())
    for target in source["targets"].values():
        target["api_base"] = f"{upstream_url}/v1"
    (home / "policy.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    config = {
        "host": "127.0.0.1",
        "port": port,
        "workers": 1,
        "policy": str(home / "policy.yaml"),
        "database_url": f"sqlite:///{home / 'gateway.db'}",
        "var_dir": str(home / "var"),
        "keys": [{"id": "bench", "sha256": hashlib.sha256(OUR_KEY.encode()).hexdigest(), "team": "bench",
                  "roles": ["user", "monitor"]}],
        "telemetry": {"log_level": log_level, "access_log": False},
    }  # fmt: skip
    if fast_paths_off:  # ``--fast-paths-off``: those fast paths back on their libraries (gateway/fastpaths.py)
        config["fast_paths"] = dict.fromkeys(fast_paths_off, False)
    (home / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # ``python -m gateway``: this interpreter's gateway (a copied venv's scripts may name another one).
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(home / "config.yaml")]
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    url = f"http://127.0.0.1:{port}"
    return start(f"gateway-{policy}", command, url, "/readyz", home, cpu=cpu, env=env,
                 headers={"authorization": f"Bearer {OUR_KEY}"})  # fmt: skip


# -- the peer: LiteLLM proxy, with or without Presidio ---------------------------------


def litellm(workdir: Path, peer_python: Path, upstream_url: str, cpu: int | None, presidio_url: str | None) -> Process:
    """The LiteLLM proxy with the settings of its production guide (master key, no debug
    logging, JSON logs, ``LITELLM_LOG=ERROR``), one worker, the same upstream as ours.
    With ``presidio_url``: its Presidio guardrail on every request's input (``pre_call``)."""
    port = free_port()
    config: dict[str, object] = {
        "model_list": [{"model_name": MODEL, "litellm_params": {
            "model": f"openai/{MODEL}", "api_base": f"{upstream_url}/v1", "api_key": "sk-upstream"}}],
        "general_settings": {"master_key": PEER_KEY},
        "litellm_settings": {"request_timeout": 600, "set_verbose": False, "json_logs": True},
    }  # fmt: skip
    if presidio_url:
        config["guardrails"] = [{"guardrail_name": "presidio-pii", "litellm_params": {
            "guardrail": "presidio", "mode": "pre_call", "default_on": True, "presidio_filter_scope": "input",
            "presidio_analyzer_api_base": presidio_url, "presidio_anonymizer_api_base": presidio_url}}]  # fmt: skip
    name = "litellm-presidio" if presidio_url else "litellm"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    (home / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [str(peer_python.parent / "litellm"), "--config", str(home / "config.yaml"), "--host", "127.0.0.1",
               "--port", str(port), "--num_workers", "1"]  # fmt: skip
    env = {"LITELLM_LOG": "ERROR", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "DISABLE_SCHEMA_UPDATE": "True"}
    url = f"http://127.0.0.1:{port}"
    return start(name, command, url, "/health/liveliness", home, cpu=cpu, env=env)


def presidio(workdir: Path, peer_python: Path, cpu: int | None) -> Process:
    port = free_port()
    command = [str(peer_python), str(HERE / "presidio_server.py"), "--port", str(port)]
    return start("presidio", command, f"http://127.0.0.1:{port}", "/health", workdir, cpu=cpu)
