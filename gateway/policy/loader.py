"""Reading a policy file: safe YAML, strict validation, errors with line and column.

The YAML is composed into nodes first (``yaml.SafeLoader``: no tags, no
Python objects) so every value keeps its position; validation errors from
pydantic are then mapped back to the node at their path. Aliases are refused:
a policy has no use for them and they enable "billion laughs" inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from gateway.policy.engine import detected_entities
from gateway.policy.model import Path as FieldPath
from gateway.policy.model import Policy, reference_problems
from gateway.policy.partial import PartialPolicy, salvage, whole

MAX_POLICY_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a look) in a policy file."""

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.file}:{self.line}:{self.column}: {prefix}{self.message}"


class PolicyError(Exception):
    """The policy file cannot be used. ``problems`` lists every error found.

    ``partial``: when the file parsed, what of it validated (for the checks that can
    still run on it, ``gateway.policy.checks.check_partial``), with ``positions``.
    """

    def __init__(
        self,
        problems: Sequence[Problem],
        partial: PartialPolicy | None = None,
        positions: dict[FieldPath, tuple[int, int]] | None = None,
    ) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)
        self.partial = partial
        self.positions = positions or {}


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A validated policy with its source, version and node positions, and what the request
    path needs of it worked out once (``reads_content``)."""

    policy: Policy
    source: str
    path: str
    version: str
    positions: dict[FieldPath, tuple[int, int]]
    detects: frozenset[str] | None = None
    """The entity types the classifier looks for under this policy
    (``gateway.policy.engine.detected_entities``); ``None``: every type it knows."""

    @property
    def reads_content(self) -> bool:
        """Whether a request's content can change what this policy decides or records;
        when not, requests are not classified at all."""
        return self.detects is None or bool(self.detects)

    def where(self, path: FieldPath) -> tuple[int, int]:
        """Line and column (1-based) of the value at ``path``, or of its nearest parent."""
        return position_of(self.positions, path)


def position_of(positions: dict[FieldPath, tuple[int, int]], path: FieldPath) -> tuple[int, int]:
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return positions.get((), (1, 1))


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that a policy file does not allow (aliases, tags, duplicate keys)."""


_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
)


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(None, None, "aliases (*name) are not allowed in a policy", event.start_mark)
        return super().compose_node(parent, index)


def parse(source: str, file: str = "<policy>") -> tuple[Any, dict[FieldPath, tuple[int, int]]]:
    """Safe-parse YAML into plain data plus the position of every value."""
    loader = _NoAliasLoader(source)
    try:
        root = loader.get_single_node()
        if root is None:
            raise PolicyError([Problem(file, 1, 1, "the file is empty; a policy starts with 'version: 1'")])
        positions: dict[FieldPath, tuple[int, int]] = {}
        data = _build(loader, root, (), positions)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context
        message = reason if isinstance(exc, _Refused) else f"not valid YAML: {reason}"
        raise PolicyError([Problem(file, line, col, str(message))]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([Problem(file, 1, 1, f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise PolicyError([Problem(file, 1, 1, "the YAML is nested too deeply")]) from None
    finally:
        loader.dispose()
    return data, positions


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, path: FieldPath, positions: dict[FieldPath, tuple[int, int]]
) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if node.tag not in _PLAIN_TAGS:
        raise _Refused(None, None, f"tags ({node.tag}) are not allowed in a policy", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(None, None, "keys must be plain words", key_node.start_mark)
            key = loader.construct_object(key_node)
            if key in out:
                raise _Refused(None, None, f"duplicate key {key!r}", key_node.start_mark)
            positions[(*path, str(key), "__key__")] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[key] = _build(loader, value_node, (*path, str(key)), positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), positions) for i, item in enumerate(node.value)]
    return loader.construct_object(node)


def canonical_version(data: Any) -> str:
    """The policy version: a hash of its canonical content (comments and layout ignored)."""
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def load_text(source: str, file: str = "<policy>") -> LoadedPolicy:
    """Parse and validate policy text; raise ``PolicyError`` with every problem found."""
    if len(source.encode()) > MAX_POLICY_BYTES:
        raise PolicyError([Problem(file, 1, 1, f"the file is larger than {MAX_POLICY_BYTES} bytes")])
    data, positions = parse(source, file)
    if not isinstance(data, dict):
        raise PolicyError([Problem(file, 1, 1, "a policy is a mapping that starts with 'version: 1'")])

    def at(path: FieldPath, message: str) -> Problem:
        line, col = position_of(positions, path)
        return Problem(file, line, col, message)

    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        shape = validation_problems(exc, positions, file)
        partial = salvage(data)  # the references in what did validate are checked all the same
    else:
        shape, partial = [], whole(policy)
    problems = shape + [
        at(path, f"{dotted(path)}: {message}")
        for path, message in (
            (partial.original(path), message) for path, message in reference_problems(partial.policy)
        )
    ]
    if problems:
        raise PolicyError(sorted(problems, key=lambda p: (p.line, p.column)), partial, positions)
    return LoadedPolicy(
        policy=policy, source=source, path=file, version=canonical_version(data), positions=positions,
        detects=detected_entities(policy),
    )  # fmt: skip


def validation_problems(
    exc: ValidationError, positions: dict[FieldPath, tuple[int, int]], file: str, prefix: FieldPath = ()
) -> list[Problem]:
    """Pydantic's errors as problems at their line and column, in file order.

    ``prefix`` is prepended to each error's path, for data validated below the
    root of the parsed document.
    """
    problems = []
    for err in exc.errors():
        path, message = _explain({**err, "loc": (*prefix, *err["loc"])})
        line, col = position_of(positions, path)
        problems.append(Problem(file, line, col, message))
    return sorted(problems, key=lambda p: (p.line, p.column))


def load_file(path: str | Path) -> LoadedPolicy:
    """Read and validate a policy file; raise ``PolicyError`` with every problem found."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([Problem(str(path), 1, 1, "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(str(path), 1, 1, f"cannot read the file: {exc}")]) from None
    return load_text(source, str(path))


def dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


_PATTERN_HINTS = {
    r"^[A-Z][A-Z0-9_]*$": "entity types are written in capitals, digits and underscores, e.g. CREDIT_CARD",
    r"^[a-z][a-z0-9_]*$": "levels are written in lower case, digits and underscores, e.g. confidential",
    r"^[A-Za-z0-9_.:/@+-]+$": "names may use letters, digits and _ . : / @ + - (no spaces)",
    r"^[A-Z_][A-Z0-9_]*$": "environment variable names are written in capitals, digits and underscores",
}


def _explain(err: Any) -> tuple[FieldPath, str]:
    """A pydantic error as (path, sentence for a person)."""
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc = loc[:-1]
    field = dotted(loc) or "the policy"
    kind = err["type"]
    if kind == "extra_forbidden":
        return (*loc, "__key__"), f"{field}: unknown field; check the spelling (see `gateway policy schema`)"
    if kind == "missing":
        return loc[:-1], f"{field}: required field is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        message = _PATTERN_HINTS.get(pattern, message)
    if is_key:
        return (*loc, "__key__"), f"{dotted(loc[:-1]) or 'the policy'}: {loc[-1]!r} is not a valid key: {message}"
    return loc, f"{field}: {message}"
