"""OpenAI's published OpenAPI description as a validator for the gateway's answers.

The copy is ``tests/data/openapi/openai-openapi.json.gz`` (its README says which
commit). The spec is OpenAPI 3.1, whose schemas are JSON Schema 2020-12, except
for the OpenAPI 3.0 word ``nullable: true`` that some schemas still carry: it is
rewritten to its 2020-12 meaning (the value may also be ``null``, an ``enum``'s
too) once, on load.

    check("CreateChatCompletionResponse", body)   # raises SchemaMismatch with every error
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).parents[1] / "data" / "openapi" / "openai-openapi.json.gz"
_ROOT = "urn:openai-openapi"


class SchemaMismatch(AssertionError):
    """A body that does not validate; the message lists every error with its path."""


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True and isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]  # a nullable enum (a stream chunk's ``finish_reason``) takes null too
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list):
            out["type"] = [*kind, "null"] if "null" not in kind else kind
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _document() -> dict[str, Any]:
    return _nullable(orjson.loads(gzip.decompress(SPEC.read_bytes())))


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(_document(), default_specification=DRAFT202012)
    return Registry().with_resource(_ROOT, resource)


@functools.cache
def validator(schema_name: str) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<schema_name>`` of the spec."""
    if schema_name not in _document()["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {SPEC.name}")
    return Draft202012Validator({"$ref": f"{_ROOT}#/components/schemas/{schema_name}"}, registry=_registry())


def errors(schema_name: str, instance: Any) -> list[str]:
    """Every way ``instance`` fails ``schema_name``, as ``path: message`` lines (empty: valid)."""
    found = validator(schema_name).iter_errors(instance)
    return sorted(f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}" for error in found)


def check(schema_name: str, instance: Any) -> None:
    """Raise ``SchemaMismatch`` listing every error unless ``instance`` is a valid ``schema_name``."""
    problems = errors(schema_name, instance)
    if problems:
        raise SchemaMismatch(f"not a valid {schema_name}:\n  " + "\n  ".join(problems[:40]))
