"""Redis and the database going away in the middle of a run, against the running gateway.

Redis: the test starts its own ``redis-server`` and stops it mid-run. Requests
keep being served; rate limits fall back to this process (as documented in
``docs/resilience.md``: counted from this replica's own traffic); nothing
recorded is lost; when Redis is back the shared state is used again.

Database: the gateway reaches a real PostgreSQL through a door the test can
shut. While it is shut requests are served and their ledger rows go to the
local spool; when it opens, every accepted request is in the ledger, once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.resilience.conftest import FAST_RESILIENCE, GatewayFactory, Upstreams, policy_text, wait_for_rows
from tests.resilience.servers import RedisProcess, TcpDoor

pytestmark = pytest.mark.slow


def _policy(up: Upstreams) -> str:
    return policy_text(up.onprem.base_url, up.external.base_url)


def test_redis_stopped_mid_run(gateway_server: GatewayFactory, upstreams: Upstreams) -> None:
    settings = {**FAST_RESILIENCE, "redis_retry_s": 0.3, "rate_limits": {"per_key": {"requests_per_minute": 6}}}
    with RedisProcess() as redis, gateway_server(_policy(upstreams), resilience=settings, redis_url=redis.url) as gw:
        before = [gw.chat() for _ in range(3)]
        assert [r.status_code for r in before] == [200] * 3
        assert gw.client.get("/readyz").json()["shared_state"] == "ok"

        redis.stop()
        during = []
        for _ in range(3):
            started = time.monotonic()
            during.append(gw.chat())
            # a generous bound, not a speed target: a hang on the dead Redis would pass it
            assert time.monotonic() - started < 10, "a request waited on the dead Redis"
        assert [r.status_code for r in during] == [200] * 3  # still served
        limited = gw.chat()  # the limit (6/min) still holds, counted in this process
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        ready = gw.client.get("/readyz").json()
        assert ready["shared_state"] == "unreachable" and ready["status"] == "ready"
        assert "gateway_shared_state_up 0.0" in gw.client.get("/metrics").text

        redis.start()  # an empty Redis at the same address
        time.sleep(0.4)  # redis_retry_s
        assert gw.client.get("/readyz").json()["shared_state"] == "ok"
        after = gw.chat()  # shared counts start over in the new, empty Redis
        assert after.status_code == 200

        rows = gw.rows(7)
    served = [r.headers["x-request-id"] for r in (*before, *during, after)]
    assert sorted(r["request_id"] for r in rows) == sorted(served)  # nothing recorded is lost
    assert len(upstreams.onprem.chat_requests) == 7


@pytest.fixture
def door_to_postgres(fresh_postgres: str) -> Iterator[tuple[TcpDoor, str]]:
    parts = urlsplit(fresh_postgres)
    door = TcpDoor(parts.port or 5432)
    door.open()
    netloc = f"{parts.username}@127.0.0.1:{door.port}" if parts.username else f"127.0.0.1:{door.port}"
    yield door, urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    door.close()


STATIC_KEY = "vr-resilience-static-key-for-outage-tests"
STATIC_KEYS = [{"id": "static-1", "sha256": hashlib.sha256(STATIC_KEY.encode()).hexdigest(), "team": "payments",
                "roles": ["user", "monitor"]}]


def test_database_unreachable_for_a_while_loses_no_ledger_row(
    gateway_server: GatewayFactory, upstreams: Upstreams, door_to_postgres: tuple[TcpDoor, str]
) -> None:
    door, database_url = door_to_postgres
    with gateway_server(_policy(upstreams), database_url=database_url, keys=STATIC_KEYS, key=STATIC_KEY) as gw:
        served = [gw.chat().headers["x-request-id"] for _ in range(2)]
        assert len(gw.rows(2)) == 2

        door.close()  # the database goes away
        for _ in range(5):
            response = gw.chat()
            assert response.status_code == 200  # requests are still served
            served.append(response.headers["x-request-id"])
        streamed, lines = gw.stream_lines()
        assert lines[-1] == "data: [DONE]"
        served.append(streamed.headers["x-request-id"])
        deadline = time.monotonic() + 10
        while gw.state.ledger.spooled < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = gw.client.get("/readyz").json()
        assert ready["database"] == "unreachable" and ready["ledger_spooled"] == 6
        spool = Path(gw.state.config.var_dir) / "ledger-spool"
        assert len(list(spool.glob("ledger-*.jsonl"))) == 1

        door.open()  # it comes back
        rows = gw.rows(8, timeout_s=20)
        assert gw.state.ledger.spooled == 0
    assert sorted(r["request_id"] for r in rows) == sorted(served)  # every accepted request, once


def test_rows_spooled_before_a_restart_reach_the_database_after_it(
    gateway_server: GatewayFactory, upstreams: Upstreams, door_to_postgres: tuple[TcpDoor, str], tmp_path: Path
) -> None:
    door, database_url = door_to_postgres
    work = tmp_path / "gateway"
    start = {"database_url": database_url, "keys": STATIC_KEYS, "key": STATIC_KEY, "work": work}
    with gateway_server(_policy(upstreams), **start) as gw:
        door.close()
        served = [gw.chat().headers["x-request-id"] for _ in range(3)]
    # The gateway stopped while the database was away: its rows wait on disk.
    assert len(list((work / "var" / "ledger-spool").glob("ledger-*.jsonl"))) == 1
    door.open()
    assert wait_for_rows(database_url, 1, timeout_s=0.2) == []
    with gateway_server(_policy(upstreams), **start) as gw:  # the restart, on the same var_dir
        rows = gw.rows(3)
    assert sorted(r["request_id"] for r in rows) == sorted(served)
    assert list((work / "var" / "ledger-spool").glob("ledger-*.jsonl")) == []
