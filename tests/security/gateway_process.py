"""``gateway serve`` in a process of its own, watched from outside: its peak memory, its ``/healthz``.

``GatewayProcess`` writes a configuration and a policy, creates a key, starts
``python -m gateway serve`` and waits for it. ``peak_rss_mib`` reads the kernel's
high-water mark of the process's resident memory (``VmHWM`` in
``/proc/PID/status``). ``HealthWatch`` asks ``/healthz`` every ``interval_s``
from a thread and keeps the slowest answer and every failure, for as long as it runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.resilience.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def memory_mib(pid: int, field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of process ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


class GatewayProcess:
    def __init__(self, work: Path, policy: str, *, env: dict[str, str] | None = None, config: str = "") -> None:
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (work / "policy.yaml").write_text(policy)
        self.config = work / "config.yaml"
        self.config.write_text(
            f"var_dir: {work}\npolicy: {work / 'policy.yaml'}\ndatabase_url: sqlite:///{work}/gateway.db\n"
            f"port: {self.port}\npolicy_watch_s: 0\n{config}"
        )
        inherited = ("GATEWAY_CONFIG", "GATEWAY_POLICY", "DATABASE_URL")
        self.env = {k: v for k, v in os.environ.items() if k not in inherited}
        self.env.update(env or {})
        self.key = ""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def peak_rss_mib(self) -> float:
        return memory_mib(self.pid, "VmHWM")

    def __enter__(self) -> GatewayProcess:
        created = subprocess.run(
            [sys.executable, "-m", "gateway", "keys", "create", "--team", "payments", "--config", str(self.config)],
            env=self.env, capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        found = re.search(r"key:\s+(\S+)", created.stdout)
        assert found is not None, created.stdout
        self.key = found.group(1)
        log = self.work / "server.log"
        with log.open("w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
        deadline = time.monotonic() + 180
        while "Application startup complete" not in log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"the gateway did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def log(self) -> str:
        return (self.work / "server.log").read_text()


class HealthWatch:
    """``GET /healthz`` every ``interval_s`` with a ``timeout_s`` each, from a thread."""

    def __init__(self, url: str, *, interval_s: float = 0.05, timeout_s: float = 5.0) -> None:
        self.url = url + "/healthz"
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.answers = 0
        self.slowest_s = 0.0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-watch", daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout_s + 5)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(self.url).status_code
                    if status != 200:
                        self.failures.append(f"HTTP {status}")
                    self.answers += 1
                except httpx.HTTPError as exc:
                    self.failures.append(type(exc).__name__)
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)
                self._stop.wait(self.interval_s)
