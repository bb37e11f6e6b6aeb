"""Real servers a scale-out test starts, breaks and restarts itself.

``PostgresServer`` and ``RedisServer`` run from the ``postgres`` / ``redis-server``
binaries on free loopback ports, in temporary directories: never the machine's
shared ones, which other tests and people use. ``HAProxy`` is Debian's load
balancer in front of the replicas (``.ci/install-haproxy`` installs it).
``Replica`` is one ``python -m gateway serve`` process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.05)


def binary(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is needed for the scale-out test: {hint}")
    return found


class PostgresServer:
    """A PostgreSQL cluster of its own (``initdb``), database ``test``; ``restart`` drops every connection."""

    def __init__(self) -> None:
        self.initdb = binary("initdb", "apt-get install postgresql")
        self.pg_ctl = binary("pg_ctl", "apt-get install postgresql")
        self.data = Path(tempfile.mkdtemp(prefix="gw-scale-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/test"
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as an unprivileged account
            account = next((name for name in ("postgres", "nobody") if _account(name)), None)
            if account is None or shutil.which("runuser") is None:
                pytest.fail("running as root: PostgreSQL needs an unprivileged account (postgres) and runuser")
            shutil.chown(self.data, account)
            self._as = ["runuser", "-u", account, "--"]

    def start(self) -> PostgresServer:
        subprocess.run([*self._as, self.initdb, "-D", str(self.data / "db"), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True)
        self._ctl("start")
        subprocess.run([binary("createdb", "apt-get install postgresql"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", "postgres", "test"], check=True, capture_output=True)
        return self

    def restart(self) -> None:
        """A fast shutdown (open connections are cut) and a start on the same port."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.data, ignore_errors=True)

    def _ctl(self, *action: str) -> None:
        options = (f"-p {self.port} -h 127.0.0.1 -k {self.data} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        subprocess.run([*self._as, self.pg_ctl, "-D", str(self.data / "db"), "-o", options,
                        "-l", str(self.data / "log"), "-w", "-t", "30", *action], check=True, capture_output=True)


def _account(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class RedisServer:
    """A ``redis-server`` of its own, without persistence: a restart forgets everything, as a failover can."""

    def __init__(self) -> None:
        self.binary = binary("redis-server", "apt-get install redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self._proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: reachable(self.port), 10, "redis-server start")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


ERRORS = {  # the load balancer's own answers, in the gateway's documented shape (docs/capacity.md)
    502: ("Bad Gateway", "upstream_error", "The gateway replica closed the connection before answering."),
    503: ("Service Unavailable", "overloaded", "No gateway replica is available; retry shortly."),
    504: ("Gateway Timeout", "upstream_timeout", "The gateway replica did not answer in time."),
}


class HAProxy:
    """Round robin over the replicas, health-checked on ``/healthz``; a connection that cannot be opened is
    retried on another replica (nothing was sent), a request that was sent is never sent twice."""

    def __init__(self, work: Path, backends: list[int]) -> None:
        self.binary = binary("haproxy", "apt-get install haproxy (make test runs .ci/install-haproxy)")
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backends = backends
        self._proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        for status, (reason, code, message) in ERRORS.items():
            body = orjson.dumps({"error": {"message": message, "type": "server_error", "code": code, "param": None}})
            head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncache-control: no-cache\r\n"
                    f"retry-after: 1\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n")
            (self.work / f"{status}.http").write_bytes(head.encode() + body)
        servers = "\n".join(f"    server r{i} 127.0.0.1:{port} check" for i, port in enumerate(self.backends))
        errors = "\n".join(f"    errorfile {status} {self.work / f'{status}.http'}" for status in ERRORS)
        return f"""global
    maxconn 1024
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 30s
    timeout queue 5s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure
{errors}
frontend gateway
    bind 127.0.0.1:{self.port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""

    def start(self) -> HAProxy:
        path = self.work / "haproxy.cfg"
        path.write_text(self.config())
        subprocess.run([self.binary, "-c", "-q", "-f", str(path)], check=True)
        self._proc = subprocess.Popen([self.binary, "-db", "-f", str(path)], stdout=subprocess.DEVNULL,
                                      stderr=(self.work / "haproxy.log").open("wb"))
        wait_until(lambda: reachable(self.port), 10, "haproxy start")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)


def static_key(key: str, team: str) -> dict[str, object]:
    """An API key in the operator configuration (by hash): it needs no database."""
    return {"id": team, "sha256": hashlib.sha256(key.encode()).hexdigest(), "team": team,
            "roles": ["user", "monitor"]}


class Replica:
    """One ``python -m gateway serve --config FILE`` process on its own port and ``var_dir``."""

    def __init__(self, name: str, work: Path, config: dict[str, Any], env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.var_dir = work / name
        self.config_path = work / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump({**config, "port": self.port, "var_dir": str(self.var_dir)}))
        self.log = work / f"{name}.log"
        self.env = {k: v for k, v in env.items() if k not in
                    ("GATEWAY_CONFIG", "GATEWAY_POLICY", "DATABASE_URL", "REDIS_URL", "GATEWAY_PORT", "GATEWAY_HOST")}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *extra: str) -> Replica:
        self.starts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(self.config_path), *extra],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )
        return self

    def wait_ready(self, key: str, timeout_s: float = 150) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"replica {self.name} exited early:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                response = httpx.get(self.url + "/readyz", headers={"authorization": f"Bearer {key}"}, timeout=5)
                if response.status_code == 200:
                    return
            if time.monotonic() > deadline:
                pytest.fail(f"replica {self.name} not ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def warm_up(self, key: str, count: int = 4) -> None:
        text = "Warm up, card 4111 1111 1111 1111"
        body = {"model": "bank-standard", "messages": [{"role": "user", "content": text}]}
        for _ in range(count):
            response = httpx.post(self.url + "/v1/chat/completions", json=body, timeout=30,
                                  headers={"authorization": f"Bearer {key}"})
            assert response.status_code == 200, response.text

    def kill(self) -> None:
        """``kill -9``: nothing is flushed, nothing is closed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout_s: float = 30) -> int | None:
        """SIGTERM: in-flight requests finish, the writers flush."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def journal_lines(self) -> dict[str, int]:
        """Records waiting in this replica's journals (``ledger``, ``audit``)."""
        counts = {}
        for kind in ("ledger", "audit"):
            lines = 0
            for path in (self.var_dir / f"{kind}-spool").glob(f"{kind}-*.jsonl"):
                lines += sum(1 for line in path.read_bytes().splitlines() if line.strip())
            counts[kind] = lines
        return counts


def environ(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
