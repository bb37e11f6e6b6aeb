"""The installed environment: no unexpected ``.pth`` file, and an install that checks hashes.

A ``.pth`` file in site-packages runs code at every interpreter start, before
any of ours: that is how a poisoned release of a popular package once stole
credentials. Only the two we know may be there: setuptools' distutils shim and
this project's editable-install finder, each with its known content.
"""

from __future__ import annotations

import re
import site
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EXPECTED_PTH = {
    "distutils-precedence.pth": re.compile(
        r"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os\.environ\.get\(var, 'local'\) == 'local'; "
        r"enabled and __import__\('_distutils_hack'\)\.add_shim\(\); \n?"
    ),
    "__editable__.vaultroute-0.1.0.pth": re.compile(
        r"import __editable___vaultroute_0_1_0_finder; __editable___vaultroute_0_1_0_finder\.install\(\)\n?"
        r"|" + re.escape(str(ROOT)) + r"\n?"
    ),
}


def _site_dirs() -> set[Path]:
    dirs = {Path(p) for p in site.getsitepackages()}
    dirs |= {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    if site.ENABLE_USER_SITE:
        dirs.add(Path(site.getusersitepackages()))
    return {d for d in dirs if d.is_dir()}


def test_no_unexpected_pth_file_sits_in_the_environment() -> None:
    found = {pth: pth.read_text(errors="replace") for d in _site_dirs() for pth in d.glob("*.pth")}
    unexpected = [str(p) for p in found if p.name not in EXPECTED_PTH]
    assert unexpected == [], f"unexpected .pth files (they run code at every start): {unexpected}"
    altered = [str(p) for p, text in found.items() if not EXPECTED_PTH[p.name].fullmatch(text)]
    assert altered == [], f".pth files with unexpected content: {altered}"


@pytest.mark.parametrize("lock", sorted(p.name for p in ROOT.glob("requirements*.lock")))
def test_the_lock_pins_every_package_with_hashes(lock: str) -> None:
    requirements = [line for line in _logical_lines(ROOT / lock) if not line.startswith("#")]
    assert requirements
    for requirement in requirements:
        name = requirement.split()[0]
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+!\-]+", name), f"not an exact pin: {name}"
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", requirement), f"no hash for {name}"


def test_make_installs_the_lock_with_hashes_required() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines()
                if ("pip install" in line or "pip download" in line) and "-e ." not in line]
    assert len(installs) >= 6  # pip, runtime, tests, model, checkov's pip and checkov, the deploy tools
    assert all("--require-hashes" in line and "-r requirements" in line for line in installs), installs


def _logical_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().replace("\\\n", " ").splitlines() if line.strip()]
