"""A ``gateway serve`` killed with SIGKILL while audit records are queued loses none of them.

The test holds the audit chain's head row locked (as a long append by another
replica would), so the served requests' records cannot reach the database and
stay queued; their ledger rows are written meanwhile. Then the process is
killed outright, the lock is let go, and the same configuration is started
again: the records come back from the journal, are chained once each, and
``gateway audit verify`` passes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.scaleout.services import ROOT, Replica, environ, static_key, wait_until
from tests.upstreams.openai_server import OpenAIUpstream

pytestmark = pytest.mark.slow
KEY = "vr-hard-kill-payments"
POLICY = """
version: 1
name: hard-kill
levels: [public, internal, confidential, restricted]
classification: {{default_level: internal, on_error: restricted, entities: {{CREDIT_CARD: restricted}}}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {api_base}
    model: onprem-model
    api_key_env: HARD_KILL_UPSTREAM_KEY
    residency: on_prem
models:
  bank-standard: {{}}
routes:
  - name: default
    targets: [onprem]
"""


def _ids(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(f"SELECT request_id FROM {table}")}


def test_audit_records_queued_at_a_kill_are_appended_after_the_restart(fresh_postgres: str, tmp_path: Path) -> None:
    with OpenAIUpstream(api_key="sk-hard-kill", models=("onprem-model",)) as upstream:
        (tmp_path / "policy.yaml").write_text(POLICY.format(api_base=upstream.base_url))
        config = {"policy": str(tmp_path / "policy.yaml"), "database_url": fresh_postgres, "policy_watch_s": 0,
                  "keys": [static_key(KEY, "payments")], "telemetry": {"log_level": "WARNING"}}
        replica = Replica("gw", tmp_path, config, environ(HARD_KILL_UPSTREAM_KEY="sk-hard-kill"))
        replica.start().wait_ready(KEY)
        try:
            warm = httpx.post(replica.url + "/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"},
                              json={"model": "bank-standard", "messages": [{"role": "user", "content": "Hi"}]})
            assert warm.status_code == 200
            wait_until(lambda: warm.headers["x-request-id"] in _ids(fresh_postgres, "audit_log"), 20, "first record")
            with psycopg.connect(fresh_postgres) as lock:
                lock.execute("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")  # appends wait on it
                ids = []
                for text in ("What is a basis point?", "Card 4111 1111 1111 1111 was declined", "Explain duration."):
                    response = httpx.post(replica.url + "/v1/chat/completions", timeout=30,
                                          headers={"authorization": f"Bearer {KEY}"},
                                          json={"model": "bank-standard", "messages": [{"role": "user",
                                                                                        "content": text}]})
                    assert response.status_code == 200
                    ids.append(response.headers["x-request-id"])
                wait_until(lambda: set(ids) <= _ids(fresh_postgres, "ledger"), 20, "the ledger rows")
                time.sleep(0.5)  # several flush intervals: the audit batch is stuck on the lock, not just late
                assert not set(ids) & _ids(fresh_postgres, "audit_log")
                assert replica.journal_lines()["audit"] >= len(ids)  # queued, and on disk
                replica.kill()
                lock.rollback()
            assert not set(ids) & _ids(fresh_postgres, "audit_log")  # nothing reached the chain before the kill
            replica.start().wait_ready(KEY)
            wait_until(lambda: set(ids) <= _ids(fresh_postgres, "audit_log"), 30, "the records after the restart")
        finally:
            replica.stop()
    assert replica.journal_lines() == {"ledger": 0, "audit": 0}
    with psycopg.connect(fresh_postgres) as conn:
        count, distinct = conn.execute("SELECT count(*), count(DISTINCT request_id) FROM audit_log").fetchone()  # type: ignore[misc]
        levels = dict(conn.execute("SELECT request_id, level FROM audit_log").fetchall())
    assert count == distinct == 4  # each once: the warm-up and the three
    assert levels[ids[1]] == "restricted"
    verify = subprocess.run([sys.executable, "-m", "gateway", "audit", "verify", "--database-url", fresh_postgres],
                            capture_output=True, text=True, cwd=ROOT, env=replica.env, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("ok: 4 records")
