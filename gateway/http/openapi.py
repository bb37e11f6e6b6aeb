"""The OpenAPI description, made accurate for the data plane.

The data plane's paths (``dataplane.ENDPOINTS``, ``POST /v1/chat/completions``
among them) have no FastAPI route: they read their body as bytes (to enforce
the size limit before parsing). Each is described here from its
``Endpoint``: its request model, the error responses of the contract
(``Error``: ``{"error": {"message", "type", "code", "param"}}``) and the bearer
scheme. The document is served at ``/openapi.json`` behind a key
(``routes.py``), like everything but ``/healthz``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from gateway.http.dataplane import ENDPOINTS, Endpoint

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code", "param"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": ["string", "null"]},
                "param": {"type": ["string", "null"]},
            },
        }
    },
}

_ERRORS = {
    "400": "Invalid request (including fields that would redirect traffic).",
    "401": "Missing, unknown or revoked API key.",
    "403": "The key lacks the role, or the policy denies the request (policy_denied).",
    "404": "Unknown virtual model (model_not_found).",
    "413": "Body or message count over the limit.",
    "429": "Rate limit or budget exceeded.",
    "502": "Upstream error.",
    "503": "No permitted target is available (no_target_available): nothing was sent.",
    "504": "Upstream timeout.",
}
_DATA_PLANE_ERRORS = tuple(_ERRORS)
_OTHER_ERRORS = ("401", "403")


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the accurate description (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe(app: FastAPI, data_plane: Mapping[str, Endpoint] = ENDPOINTS) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    keyed = {path for path, route in endpoints(app.routes) if _needs_key(route)}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if path in keyed:
                operation["security"] = [{"bearer": []}]
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's default; our validation errors are 400
            for code in _OTHER_ERRORS if path in keyed else ():
                responses[code] = {"description": _ERRORS[code], **error_ref}
    paths = schema.setdefault("paths", {})
    for path, endpoint in data_plane.items():
        described: dict[str, Any] = {
            "summary": endpoint.summary,
            "operationId": path.strip("/").replace("/", "_"),
            "security": [{"bearer": []}],
            "responses": {
                "200": {
                    "description": endpoint.answers,
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **{
                    code: {"description": _ERRORS[code], **_error_ref(endpoint, schemas)} for code in _DATA_PLANE_ERRORS
                },
            },
        }
        model = endpoint.request_model
        if model is not None:
            request = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(request.pop("$defs", {}))
            schemas[model.__name__] = request
            described["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
            }
        paths[path] = {endpoint.method.lower(): described}
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return schema


def _error_ref(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    """The error body of ``endpoint``: OpenAI's ``Error``, or its API's own (registered under its name)."""
    name = "Error"
    if endpoint.error_schema is not None:
        name, schemas[name] = endpoint.error_schema[0], dict(endpoint.error_schema[1])
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


def endpoints(routes: Sequence[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every API route with its full path, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            yield from endpoints(route.original_router.routes, prefix + str(getattr(context, "prefix", "") or ""))


def _needs_key(route: APIRoute) -> bool:
    """Whether the route checks the API key: it says so (``openapi_extra``) or depends, at any
    depth, on the key check (``deps.principal``)."""
    return "security" in (route.openapi_extra or {}) or _depends_on_key(route.dependant)


def _depends_on_key(dependant: Dependant) -> bool:
    return any(getattr(d.call, "__name__", "") == "principal" or _depends_on_key(d) for d in dependant.dependencies)
