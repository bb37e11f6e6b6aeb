"""``/openapi.json`` describes every data-plane body with its own models, and each API's errors
with its own shape.

The document keeps each request model's sub-models under ``components/schemas``
by class name; two APIs with a ``Tool`` each would leave one of them described
with the other's.
"""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from gateway.http.dataplane import ENDPOINTS
from tests.upstreams.gateway_between import RunningGateway


def _named(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), model.__name__: schema}


def test_no_two_data_plane_bodies_name_a_schema_alike() -> None:
    seen: dict[str, tuple[str, Any]] = {}
    for path, endpoint in ENDPOINTS.items():
        if endpoint.request_model is None:
            continue
        for name, schema in _named(endpoint.request_model).items():
            if name in seen:
                assert seen[name][1] == schema, f"{name!r} names different schemas in {seen[name][0]} and {path}"
            seen[name] = (path, schema)
    assert {"/v1/chat/completions", "/v1/messages", "/v1/responses"} <= set(ENDPOINTS)


def test_the_document_gives_messages_anthropics_error_shape_and_its_errors_match_it(gw: RunningGateway) -> None:
    document = gw.http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    refs = {
        path: document["paths"][path]["post"]["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
        for path in ("/v1/chat/completions", "/v1/messages", "/v1/responses")
    }
    assert refs == {
        "/v1/chat/completions": "#/components/schemas/Error",
        "/v1/messages": "#/components/schemas/AnthropicError",
        "/v1/responses": "#/components/schemas/Error",
    }
    for path, body, schema in (
        ("/v1/messages", {"model": "bank-standard", "messages": []}, "AnthropicError"),
        ("/v1/responses", {"model": "bank-standard", "input": []}, "Error"),
    ):
        response = gw.http.post(path, content=orjson.dumps(body))
        assert response.status_code == 400
        Draft202012Validator(schemas[schema]).validate(response.json())
