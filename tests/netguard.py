"""A pytest plugin: no socket may leave the machine during the suite.

Connections to loopback and Unix sockets are allowed; anything else raises at
once, so a library that tries to download a suffix list, a price map or model
weights fails its test instead of quietly reaching the internet. Subprocesses
the tests start get the same guard through ``tests/netguard_site``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

SITE_DIR = Path(__file__).parent / "netguard_site"


class NetworkBlocked(RuntimeError):
    pass


def _is_local(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX path
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def install() -> None:
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise NetworkBlocked(f"network access outside the machine is blocked in tests: {address!r}")
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise NetworkBlocked(f"network access outside the machine is blocked in tests: {address!r}")
        return original_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_local((host.decode() if isinstance(host, bytes) else str(host), 0)):
            raise NetworkBlocked(f"name resolution outside the machine is blocked in tests: {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


def pytest_configure(config: Any) -> None:
    install()
    # Subprocesses (servers under test) import sitecustomize from here.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE_DIR), os.environ.get("PYTHONPATH")]))
    os.environ["GATEWAY_NETGUARD"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
