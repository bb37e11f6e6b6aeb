"""Importing, building and using the classifier never touch the network.

Runs in a fresh interpreter so that nothing is already loaded or cached:
the guard is installed before ``gateway.classify`` (and Presidio, spaCy,
tldextract, phonenumbers) is imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = r"""
import asyncio, ipaddress, json, socket

attempts = []
real_connect = socket.socket.connect
real_getaddrinfo = socket.getaddrinfo

def loopback(host):
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False

def guarded_connect(self, address):
    if self.family != socket.AF_UNIX and not loopback(address[0] if isinstance(address, tuple) else address):
        attempts.append("connect %r" % (address,))
        raise OSError("network access attempted")
    return real_connect(self, address)

def guarded_getaddrinfo(host, *args, **kwargs):
    if not loopback(host):
        attempts.append("resolve %r" % (host,))
        raise OSError("name resolution attempted")
    return real_getaddrinfo(host, *args, **kwargs)

socket.socket.connect = guarded_connect
socket.getaddrinfo = guarded_getaddrinfo

import spacy.cli
spacy.cli.download = lambda *a, **k: attempts.append("spacy download")

from gateway.classify import PresidioClassifier

classifier = PresidioClassifier()
classifier.load()
texts = [
    "Mail john.smith@example.co.uk or ops@bank.internal, see https://example.com/a",
    "Call +44 20 7946 0958, IBAN DE89 3704 0044 0532 0130 00, card 4111 1111 1111 1111",
    "Customer John Smith, 12 Baker Street, London NW1 6XE",
    "客户王秀英，手机13891417776，地址北京市朝阳区建国路88号",
]
result = asyncio.run(classifier.classify(texts))
classifier.close()
print(json.dumps({"attempts": attempts, "error": result.error, "types": sorted(result.entity_types)}))
"""


def test_no_network_while_importing_building_and_classifying(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert report["error"] is None
    assert {"EMAIL_ADDRESS", "URL", "PHONE_NUMBER", "IBAN_CODE", "CREDIT_CARD", "CN_PHONE", "PERSON"} <= set(
        report["types"]
    )
    assert not any(tmp_path.iterdir()), "nothing may be written to the home directory (no caches)"
