"""Add ``--hash`` lines to a pip lock file: ``python tools/hash_lock.py [requirements.lock ...]``.

Each lock holds exact pins (``name==version``), one a line; existing hash
lines are dropped and recomputed. Every pinned file is fetched with ``pip
download --no-deps`` (the same indexes and find-links an install uses, so
torch comes from the local CPU wheel) and its SHA-256 written after the pin,
so that ``pip install --require-hashes`` refuses any other file.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> list[str]:
    text = lock.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line.split()[0])
    return out


def file_pin(path: Path) -> tuple[str, str]:
    """(normalised name, version) of a wheel or sdist file name."""
    name = path.name
    if name.endswith(".whl"):
        dist, version = name.split("-")[:2]
    else:
        stem = re.sub(r"\.(tar\.gz|zip|tar\.bz2)$", "", name)
        dist, _, version = stem.rpartition("-")
    return normalise(dist), version


def main(argv: list[str]) -> int:
    locks = [Path(a) for a in argv] or [Path("requirements.lock")]
    for lock in locks:
        pinned = pins(lock)
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / "plain.txt"
            plain.write_text("\n".join(pinned) + "\n")
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-r", str(plain),
                            "-d", tmp], check=True)
            digests: dict[tuple[str, str], list[str]] = {}
            for path in sorted(Path(tmp).iterdir()):
                if path.name == "plain.txt":
                    continue
                digests.setdefault(file_pin(path), []).append(hashlib.sha256(path.read_bytes()).hexdigest())
        lines = []
        for pin in pinned:
            name, _, version = pin.partition("==")
            found = digests.get((normalise(name.split("[")[0]), version))
            if not found:
                print(f"error: no file downloaded for {pin}", file=sys.stderr)
                return 1
            lines.append(" \\\n".join([pin, *(f"    --hash=sha256:{d}" for d in found)]))
        lock.write_text("\n".join(lines) + "\n")
        print(f"{lock}: {len(lines)} pins hashed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
