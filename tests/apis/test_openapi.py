"""``/openapi.json`` describes every data-plane body with its own models: no two share a name.

The document keeps each request model's sub-models under ``components/schemas``
by class name; two APIs with a ``Tool`` each would leave one of them described
with the other's. The check runs on the document the gateway serves.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gateway.http.dataplane import ENDPOINTS


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
