"""Every request field of OpenAI's published Chat Completions spec has a fate, and the README says which."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.protocol import (
    FORWARDED_PARAMS,
    NOT_SUPPORTED,
    OPENAI_COMPATIBLE_ONLY,
    ChatCompletionRequest,
    describe_validation_error,
    fate_of,
)
from tests.upstreams.openapi_schema import _document

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECTION = README.split("### Chat Completions parameters", 1)[1].split("\n## ", 1)[0]


def _spec_fields() -> set[str]:
    schemas = _document()["components"]["schemas"]

    def properties(schema: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for part in schema.get("allOf", [schema]):
            ref = part.get("$ref")
            found.update(properties(schemas[ref.rsplit("/", 1)[-1]]) if ref else part.get("properties", {}))
        return found

    return set(properties(schemas["CreateChatCompletionRequest"]))


SPEC_FIELDS = sorted(_spec_fields())


def test_the_pinned_spec_has_the_fields_the_issue_counted() -> None:
    assert len(SPEC_FIELDS) >= 37 and {"functions", "prompt_cache_key", "verbosity"} <= set(SPEC_FIELDS)


@pytest.mark.parametrize("name", SPEC_FIELDS)
def test_every_spec_field_is_taken_or_refused_by_name_never_unknown(name: str) -> None:
    if name in NOT_SUPPORTED:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], name: {}}
        with pytest.raises(ValidationError) as caught:
            ChatCompletionRequest.model_validate(body)
        message, param = describe_validation_error(caught.value, body)
        assert param == name and "is not supported here" in message
    else:
        assert name in ChatCompletionRequest.model_fields, f"{name} would be an 'Unknown field'"


@pytest.mark.parametrize("name", [*SPEC_FIELDS, *sorted(OPENAI_COMPATIBLE_ONLY)])
def test_the_readme_lists_every_field(name: str) -> None:
    assert f"`{name}" in SECTION, f"README's parameter list does not mention {name}"


def test_the_forwarded_list_is_the_wire_models_marks() -> None:
    assert (
        tuple(n for n in ChatCompletionRequest.model_fields if fate_of(n) in ("all", "openai_compatible"))
        == FORWARDED_PARAMS
    )
    assert fate_of("functions") == "translated" and fate_of("metadata") == "gateway" and fate_of("model") == "gateway"
