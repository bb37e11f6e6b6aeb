"""Installs the test network guard in subprocesses started by the suite."""

import os

if os.environ.get("GATEWAY_NETGUARD") == "1":
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_netguard", Path(__file__).parent.parent / "netguard.py")
    if spec and spec.loader:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.install()
