"""Shared fixtures: real PostgreSQL and Redis, a policy for tests, API keys."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``DATABASE_URL`` if it is a reachable PostgreSQL, else one started for this session."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        yield url
        return
    if _reachable("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/test"
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("PostgreSQL is needed: set DATABASE_URL, or install postgres (apt-get install postgresql)")
    data = Path(tempfile.mkdtemp(prefix="gw-pg-"))
    port = _free_port()
    subprocess.run([initdb, "-D", str(data), "-U", "postgres", "--auth=trust"], check=True, capture_output=True)
    subprocess.run(
        [pg_ctl, "-D", str(data), "-o", f"-p {port} -k {data} -h 127.0.0.1", "-w", "start"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "test"], check=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/test"
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``REDIS_URL`` if reachable, else a redis-server started for this session."""
    url = os.environ.get("REDIS_URL", "")
    if url:
        yield url
        return
    if _reachable("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = shutil.which("redis-server")
    if not binary:
        pytest.fail("Redis is needed: set REDIS_URL, or install redis-server (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _reachable("127.0.0.1", port):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """Where converted local models are cached across runs (``make test`` prepares it)."""
    return Path(os.environ.get("GATEWAY_MODEL_CACHE", ROOT / "var" / "models"))


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped afterwards."""
    import secrets

    import psycopg

    name = f"gw_test_{secrets.token_hex(4)}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each ledger test runs against SQLite and against a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gateway.db"
    return str(request.getfixturevalue("fresh_postgres"))
