"""A property-based fuzzer against the data plane's OpenAPI description.

It reads ``/openapi.json`` from the app (with a key, like any client), takes
the request schema of ``POST /v1/chat/completions`` and sends, through the
real classifier and the whole request path, bodies generated from that
schema (hypothesis-jsonschema), the same bodies with the model set to a real
virtual model, mutated with unknown or routing fields, arbitrary JSON, and
arbitrary bytes; and ``GET /v1/models`` with arbitrary query strings. Every
answer must be below 500 and, when it is an error, in the contract's shape
(the ``Error`` schema of the same document). 200 examples per operation
shape keep it to seconds.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.classify import PresidioClassifier
from gateway.classify.engine import DetectionEngine
from gateway.config import Config, Limits
from gateway.policy.model import Target
from gateway.protocol import ROUTING_FIELDS
from tests.fakes import ScriptedAdapter

POLICY = """
version: 1
name: fuzz
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {CREDIT_CARD: restricted, EMAIL_ADDRESS: confidential, PERSON: confidential}
targets:
  onprem: {kind: transformers, model: smollm2-135m-instruct, residency: on_prem}
models:
  bank-standard: {tier: standard}
  bank-premium: {tier: premium}
routes:
  - name: default
    targets: [onprem]
    cache: {ttl_s: 60}
"""
MODELS = ["bank-standard", "bank-premium"]
FUZZ = settings(max_examples=200, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@pytest.fixture
def client(tmp_path: Path, detection_engine: DetectionEngine) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)

    def factory(name: str, target: Target) -> ScriptedAdapter:
        return ScriptedAdapter(name, "A fuzzed answer.")

    config = Config(policy=str(policy), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0, limits=Limits(max_body_bytes=64_000, max_messages=50))
    classifier = PresidioClassifier(engine=detection_engine, timeout_s=30)
    app = create_app(config, classifier=classifier, adapter_factory=factory)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        _, key = app.state.gateway.keys.create("fuzz", ["user"])
        test_client.headers["Authorization"] = f"Bearer {key}"
        document = test_client.get("/openapi.json").json()
        yield test_client, document
    classifier.close()


def _resolve(node: Any, components: dict[str, Any]) -> Any:
    """The schema with every ``#/components/schemas/X`` reference inlined (the request models do not recurse)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _resolve(components[ref.rsplit("/", 1)[1]], components)
        return {k: _resolve(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, components) for v in node]
    return node


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under ``schema``: types, anyOf, enum/const, properties/required/additionalProperties,
    items with min/max counts, string lengths, number bounds. Optional properties appear or not."""
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([from_schema(option) for option in schema.get("anyOf", schema.get("oneOf"))])
    if schema.get("type") == "string" and "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {name: from_schema(properties[name]) for name in properties if name in required}
        optional = {name: from_schema(sub) for name, sub in properties.items() if name not in required}
        extra = schema.get("additionalProperties")
        base = st.fixed_dictionaries(fixed, optional=optional)
        if isinstance(extra, dict) and not properties:
            return st.dictionaries(st.text(max_size=12), from_schema(extra), max_size=3)
        return base
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), 4))
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 80), 80))
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + (1 if kind == "integer" else 1e-6)
        if kind == "integer":
            low = -(2**63) if low is None else low
            return st.integers(min_value=low, max_value=2**63 - 1 if high is None else high)
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return json_values


def _check(response: Any, error_schema: dict[str, Any]) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        jsonschema.validate(response.json(), error_schema)
    elif response.headers.get("content-type", "").startswith("text/event-stream"):
        assert response.text.rstrip().endswith("data: [DONE]")
    else:
        assert isinstance(response.json(), dict)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def test_the_schema_describes_the_data_plane(client: tuple[TestClient, dict[str, Any]]) -> None:
    _, document = client
    chat = document["paths"]["/v1/chat/completions"]["post"]
    body = chat["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    request = document["components"]["schemas"]["ChatCompletionRequest"]
    assert {"model", "messages"} <= set(request["required"]) and request["additionalProperties"] is False
    assert {"400", "401", "403", "404", "413", "429", "502", "503", "504"} <= set(chat["responses"])
    assert "422" not in chat["responses"] and chat["security"] == [{"bearer": []}]
    assert "/v1/models" in document["paths"]


def test_chat_completions_never_fails_out_of_contract(client: tuple[TestClient, dict[str, Any]]) -> None:
    test_client, document = client
    components = document["components"]["schemas"]
    request_schema = _resolve(components["ChatCompletionRequest"], components)
    error_schema = _resolve(components["Error"], components)
    valid = from_schema(request_schema)
    routed = st.tuples(valid, st.sampled_from(MODELS)).map(lambda pair: {**pair[0], "model": pair[1]})
    mutated = st.tuples(routed, st.sampled_from(sorted(ROUTING_FIELDS)) | st.text(string.ascii_letters, min_size=1,
                                                                                   max_size=12), json_values)
    bodies = st.one_of(
        valid.map(orjson.dumps),
        routed.map(orjson.dumps),
        mutated.map(lambda t: orjson.dumps({**t[0], t[1]: t[2]})),
        json_values.map(orjson.dumps),
        st.binary(max_size=300),
    )

    @FUZZ
    @given(body=bodies)
    def send(body: bytes) -> None:
        response = test_client.post("/v1/chat/completions", content=body,
                                    headers={"content-type": "application/json"})
        _check(response, error_schema)

    send()


def test_models_never_fails_out_of_contract(client: tuple[TestClient, dict[str, Any]]) -> None:
    test_client, document = client
    components = document["components"]["schemas"]
    error_schema = _resolve(components["Error"], components)

    @settings(FUZZ, max_examples=50)
    @given(query=st.dictionaries(st.text(string.printable, min_size=1, max_size=10), st.text(max_size=20),
                                 max_size=3),
           method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]))
    def send(query: dict[str, str], method: str) -> None:
        response = test_client.request(method, "/v1/models", params=query)
        _check(response, error_schema)
        if method == "GET":
            assert [m["id"] for m in response.json()["data"]] == MODELS

    send()
