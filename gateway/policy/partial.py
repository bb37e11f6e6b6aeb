"""What still checks in a policy with errors, so that ``validate`` reports every problem at once.

Pydantic reports every shape error of a file in one go, but the checks after
it (level names, target and model references, entity names, test cases) need
a ``Policy``. ``salvage`` builds one without validation from the parts of the
file that do validate on their own: each section, each target, route, budget
and test case, each field of one that has errors. What cannot be salvaged is
left out, so its own shape errors stand alone and nothing is reported twice.
Routes, budgets and test cases left out shift the indices of those after them:
``PartialPolicy.original`` maps a path in the salvaged policy back to the file.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from gateway.policy.model import Budget, Classification, Path, Policy, Route, Target, TestCase, VirtualModel

_LISTED: dict[str, type[BaseModel]] = {"routes": Route, "budgets": Budget, "tests": TestCase}


@dataclass(frozen=True, slots=True)
class PartialPolicy:
    """A policy built from the parts of a file that validated; for the checks that can still run."""

    policy: Policy
    indices: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """For ``routes``, ``budgets`` and ``tests``: the index in the file of each item kept."""

    def original(self, path: Path) -> Path:
        """``path`` in the salvaged policy as a path in the file."""
        if len(path) >= 2 and isinstance(path[0], str) and isinstance(path[1], int) and path[0] in self.indices:
            return (path[0], self.indices[path[0]][path[1]], *path[2:])
        return path

    def original_index(self, section: str, index: int) -> int:
        kept = self.indices.get(section)
        return kept[index] if kept is not None else index


def whole(policy: Policy) -> PartialPolicy:
    """A policy that validated in full, for the same checks (its references may still be wrong)."""
    return PartialPolicy(policy)


def salvage(data: Mapping[str, Any]) -> PartialPolicy:
    """The parts of ``data`` (a policy that failed validation) that validate on their own."""
    raw_levels = data.get("levels")
    levels = list(raw_levels) if isinstance(raw_levels, list) and all(isinstance(v, str) for v in raw_levels) else []
    classification = _model(Classification, data.get("classification"), fill_missing=True)
    targets = _named(Target, data.get("targets"), fill_missing=True)
    models = _named(VirtualModel, data.get("models"), fill_missing=False)
    sections: dict[str, list[Any]] = {}
    indices: dict[str, tuple[int, ...]] = {}
    for section, model in _LISTED.items():
        raw = data.get(section)
        kept = [(i, m) for i, item in enumerate(raw if isinstance(raw, list) else []) if (m := _model(model, item))]
        sections[section] = [m for _, m in kept]
        indices[section] = tuple(i for i, _ in kept)
    policy = Policy.model_construct(
        version=1,
        name=str(data.get("name", "")),
        levels=levels,  # the names as written, even malformed ones: references to them resolve
        classification=classification or Classification.model_construct(default_level=None, on_error=None),
        targets=targets,
        models=models,
        routes=sections["routes"],
        budgets=sections["budgets"],
        tests=sections["tests"],
    )  # fmt: skip
    return PartialPolicy(policy, indices)


def _named(model: type[BaseModel], raw: Any, *, fill_missing: bool) -> dict[str, Any]:
    """A mapping of names to items; a name stays (references to it resolve) even if its item cannot."""
    if not isinstance(raw, dict):
        return {}
    out = {}
    for name, item in raw.items():
        salvaged = _model(model, item, fill_missing=fill_missing)
        if isinstance(name, str):
            out[name] = salvaged if salvaged is not None else model.model_construct()
    return out


def _model(model: type[BaseModel], raw: Any, *, fill_missing: bool = False) -> Any:
    """``raw`` validated as ``model``; else built from the fields that validate on their own.

    ``None`` when ``raw`` is not a mapping, or a required field does not validate and
    ``fill_missing`` is false (with it, such a field is ``None``, which the checks skip).
    """
    if not isinstance(raw, dict):
        return None
    try:
        return model.model_validate(raw)
    except ValidationError:
        pass
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        value = _field(info.annotation, info.metadata, raw[key]) if key in raw else _INVALID
        if value is not _INVALID:
            values[name] = value
        elif info.is_required():
            if not fill_missing:
                return None
            values[name] = None
    return model.model_construct(**values)


_INVALID = object()


def _field(annotation: Any, metadata: list[Any], raw: Any) -> Any:
    """One field's value validated on its own; mappings and lists of models item by item."""
    inner = _model_in(annotation)
    if inner is not None:
        if raw is None and _optional(annotation):
            return None
        salvaged = _model(inner, raw)
        return _INVALID if salvaged is None else salvaged
    if get_origin(annotation) is dict and isinstance(raw, dict):
        key_type, value_type = get_args(annotation)
        keys, values = TypeAdapter(key_type), TypeAdapter(value_type)
        return {k: v for k, v in raw.items() if _valid(keys, k) and _valid(values, v)}
    if get_origin(annotation) is list and isinstance(raw, list) and _model_in(get_args(annotation)[0]) is not None:
        item_model = _model_in(get_args(annotation)[0])
        assert item_model is not None
        return [m for item in raw if (m := _model(item_model, item)) is not None]
    try:
        return TypeAdapter(Annotated[annotation, *metadata] if metadata else annotation).validate_python(raw)
    except ValidationError:
        return _INVALID


def _valid(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class of ``Model`` or ``Model | None``."""
    candidates = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None
