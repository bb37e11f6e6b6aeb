"""The outbound content with detected values replaced by placeholders, in every field.

``pseudonymize`` takes the content a request would send (``Outbound``), the
pieces the classifier read (``gateway/classify/extract.py``: every string,
where it sits, where it starts in which text) and the classifier's findings,
and replaces each finding of the chosen entity types by its placeholder where
it was found, and every other occurrence of the same value too (the detector
may find a name in one sentence and miss it in the next): message contents of every role, content parts, tool-call
arguments, tool results, tool definitions and their schemas, names, ids,
and object keys. The same value gets the same placeholder everywhere.

It does not decide what may leave: the gateway classifies the result again
and sends it only where that residual level is permitted. A finding it
cannot place (one that spans two fields, or sits in a number) stays, and the
residual classification sees it.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.classify.base import Detection
from gateway.classify.extract import Extracted, Path, Piece
from gateway.outbound import Outbound
from gateway.pseudonymize.placeholders import PseudonymKey, Vault

MIN_VALUE_CHARS = 3  # shorter Latin findings are replaced where found, not searched for elsewhere


@dataclass(frozen=True, slots=True)
class Pseudonymized:
    """The transformed content, and the vault to restore the answer with (memory only)."""

    outbound: Outbound
    vault: Vault

    @property
    def counts(self) -> dict[str, int]:
        """Values replaced per entity type: what the ledger and the audit trail record."""
        return self.vault.types()


def pseudonymize(
    outbound: Outbound,
    extracted: Extracted,
    detections: Iterable[Detection],
    entity_types: frozenset[str],
    key: PseudonymKey,
    scope: str,
) -> Pseudonymized:
    """``outbound`` with every placeable finding of ``entity_types`` replaced (see the module docstring)."""
    vault = Vault(key, scope)
    strings = [p for p in extracted.pieces if p.is_string]
    by_text: dict[int, list[Piece]] = defaultdict(list)
    for piece in strings:
        by_text[piece.text].append(piece)
    edits: dict[tuple[Path, bool, str], list[tuple[int, int, str]]] = defaultdict(list)
    for found in _non_overlapping(d for d in detections if d.entity_type in entity_types):
        holder = _piece_holding(by_text.get(found.text_index, ()), found)
        if holder is not None:
            start, end = found.start - holder.offset, found.end - holder.offset
            label = vault.placeholder(found.entity_type, holder.value[start:end])
            edits[(holder.path, holder.is_key, holder.value)].append((start, end, label))
    # Every other occurrence of a value found once is replaced too, wherever the detector missed it.
    pattern = vault.pattern(MIN_VALUE_CHARS)
    for piece in strings if pattern is not None else ():
        assert pattern is not None
        spans = edits[(piece.path, piece.is_key, piece.value)]
        for match in pattern.finditer(piece.value):
            label = vault.label_of(match.group(0))
            if label is not None and not any(a < match.end() and match.start() < b for a, b, _ in spans):
                spans.append((match.start(), match.end(), label))
    edits = {where: spans for where, spans in edits.items() if spans}
    if not edits:
        return Pseudonymized(outbound, vault)
    body: dict[str, Any] = copy.deepcopy({"messages": outbound.messages, "params": outbound.params})
    renames: list[tuple[Path, str, str]] = []
    for (path, is_key, value), spans in edits.items():
        new = _apply(value, spans)
        if is_key:
            renames.append((path, value, new))
        else:
            _set(body, path, new)
    for path, old, new in sorted(renames, key=lambda r: len(r[0]), reverse=True):  # deepest first: paths hold
        container = _get(body, _body_path(path))
        if isinstance(container, dict) and old in container:
            items = [(new if k == old else k, v) for k, v in container.items()]
            container.clear()
            container.update(items)
    return Pseudonymized(Outbound.sealed(body["messages"], body["params"]), vault)


def _non_overlapping(detections: Iterable[Detection]) -> list[Detection]:
    """Per text, the longest findings first, then any that do not overlap one already taken."""
    taken: list[Detection] = []
    for d in sorted(detections, key=lambda d: (d.text_index, -(d.end - d.start), d.start)):
        if not any(t.text_index == d.text_index and t.start < d.end and d.start < t.end for t in taken):
            taken.append(d)
    return taken


def _piece_holding(pieces: Sequence[Piece], found: Detection) -> Piece | None:
    for piece in pieces:
        if piece.offset <= found.start and found.end <= piece.offset + len(piece.value):
            return piece
    return None


def _apply(value: str, spans: list[tuple[int, int, str]]) -> str:
    for start, end, label in sorted(set(spans), reverse=True):
        value = value[:start] + label + value[end:]
    return value


def _body_path(path: Path) -> Path:
    """Extracted paths start at the request body (``messages``, or a parameter's name)."""
    return path if path and path[0] == "messages" else ("params", *path)


def _get(body: dict[str, Any], path: Path) -> Any:
    node: Any = body
    for step in path:
        node = node[step]
    return node


def _set(body: dict[str, Any], path: Path, value: str) -> None:
    full = _body_path(path)
    _get(body, full[:-1])[full[-1]] = value
