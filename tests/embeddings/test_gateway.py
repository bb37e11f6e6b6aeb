"""``POST /v1/embeddings`` end to end: the official ``openai`` client, a running gateway (the real
classifier, the real policy engine, litellm and the OpenAI-compatible adapter really sending) between
two recording loopback upstreams that speak OpenAI's embeddings wire protocol."""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterator

import openai
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types import CreateEmbeddingResponse

from gateway.tokens import TokenCounter
from tests.upstreams.embeddings_reply import vector_for
from tests.upstreams.gateway_between import RunningGateway, gateway_between
from tests.upstreams.openai_server import EMBEDDINGS_PATH
from tests.upstreams.openapi_schema import check

CARD = "Card 4111 1111 1111 1111 was declined at the ATM"

POLICY = """
version: 1
name: embeddings-e2e
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential}}
targets:
  ext-embed:
    kind: litellm
    task: embeddings
    model: openai/text-embedding-3-small
    api_base: {external}
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
    pricing: {{usd_per_million_input: 20}}
  onprem-embed:
    kind: openai_compatible
    task: embeddings
    model: bge-small
    api_base: {onprem}
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
    pricing: {{usd_per_million_input: 1}}
  ext-chat:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {external}
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
models:
  bank-embed: {{tier: standard}}
  chat-only: {{tier: chat}}
routes:
  - name: chat-only
    when: {{tier: chat}}
    targets: [ext-chat]
  - name: embeddings
    when: {{api: embeddings}}
    targets: [ext-embed, onprem-embed, ext-chat]
    cache: {{ttl_s: 600}}
  - name: default
    targets: [ext-chat]
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("embeddings"), POLICY) as gateway:
        yield gateway


@pytest.fixture
def gateway(running: RunningGateway) -> RunningGateway:
    running.external.reset()
    running.onprem.reset()
    return running


def client_of(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=gateway.key, max_retries=0)


def embedding_bodies(upstream: object) -> list[dict[str, object]]:
    return [r.body for r in upstream.requests if r.path == EMBEDDINGS_PATH]  # type: ignore[attr-defined]


def test_the_openai_client_gets_one_vector_per_input_from_the_external_target(gateway: RunningGateway) -> None:
    raw = client_of(gateway).embeddings.with_raw_response.create(
        model="bank-embed", input=["What is a bond?", "Explain duration risk."], encoding_format="float"
    )
    response = raw.parse()
    assert [d.embedding for d in response.data] == [vector_for("What is a bond?"), vector_for("Explain duration risk.")]
    assert response.model == "bank-embed" and response.usage.prompt_tokens == 7
    assert raw.headers["x-gateway-target"] == "ext-embed" and raw.headers["x-gateway-residency"] == "external"
    assert raw.headers["x-gateway-route"] == "embeddings" and raw.headers["x-gateway-level"] == "internal"
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(7 * 20 / 1e6)
    check("CreateEmbeddingResponse", raw.http_response.json())
    CreateEmbeddingResponse.model_validate(raw.http_response.json(), strict=True)  # the SDK's own type, strictly
    sent = embedding_bodies(gateway.external)
    assert len(sent) == 1 and sent[0]["input"] == ["What is a bond?", "Explain duration risk."]
    assert sent[0]["model"] == "text-embedding-3-small"


def test_base64_as_the_sdk_asks_by_default_and_when_told(gateway: RunningGateway) -> None:
    client = client_of(gateway)
    default = client.embeddings.create(model="bank-embed", input="Interest rate swaps")  # the SDK asks for base64
    assert default.data[0].embedding == vector_for("Interest rate swaps")
    raw = client.embeddings.with_raw_response.create(model="bank-embed", input="FX forwards", encoding_format="base64")
    body = raw.http_response.json()
    packed = base64.b64decode(body["data"][0]["embedding"])
    floats = list(struct.unpack(f"<{len(packed) // 4}f", packed))
    assert floats == vector_for("FX forwards")
    body["data"][0]["embedding"] = floats  # the spec describes the float form only (base64 is its encoding)
    check("CreateEmbeddingResponse", body)


def test_dimensions_reach_the_target(gateway: RunningGateway) -> None:
    response = client_of(gateway).embeddings.create(model="bank-embed", input="Yield curve", dimensions=4)
    assert response.data[0].embedding == vector_for("Yield curve", 4)
    assert embedding_bodies(gateway.external)[0]["dimensions"] == 4


def test_a_card_number_in_one_input_keeps_the_whole_batch_on_prem(gateway: RunningGateway) -> None:
    raw = client_of(gateway).embeddings.with_raw_response.create(
        model="bank-embed", input=["Opening hours of the branch", CARD], encoding_format="float"
    )
    assert raw.headers["x-gateway-level"] == "restricted"
    assert raw.headers["x-gateway-target"] == "onprem-embed" and raw.headers["x-gateway-residency"] == "on_prem"
    assert [d.embedding for d in raw.parse().data] == [vector_for("Opening hours of the branch"), vector_for(CARD)]
    assert embedding_bodies(gateway.external) == []
    assert "4111" not in gateway.external_received()
    assert embedding_bodies(gateway.onprem)[0]["input"] == ["Opening hours of the branch", CARD]


def test_token_arrays_are_decoded_classified_and_sent_as_text(gateway: RunningGateway) -> None:
    encoding = TokenCounter().encoding("cl100k_base")
    client = client_of(gateway)
    response = client.embeddings.create(model="bank-embed", input=[encoding.encode("Hello world")])
    assert response.data[0].embedding == vector_for("Hello world")
    assert embedding_bodies(gateway.external)[0]["input"] == ["Hello world"]
    raw = client.embeddings.with_raw_response.create(model="bank-embed", input=encoding.encode(CARD))
    assert raw.headers["x-gateway-target"] == "onprem-embed"  # the card was read in the tokens
    assert "4111" not in gateway.external_received()


def test_the_same_inputs_are_answered_from_the_cache(gateway: RunningGateway) -> None:
    client = client_of(gateway)
    first = client.embeddings.with_raw_response.create(model="bank-embed", input=["cached text"], dimensions=6)
    again = client.embeddings.with_raw_response.create(model="bank-embed", input=["cached text"], dimensions=6)
    other = client.embeddings.with_raw_response.create(model="bank-embed", input=["cached text"], dimensions=5)
    assert (first.headers["x-gateway-cache"], again.headers["x-gateway-cache"]) == ("miss", "hit")
    assert other.headers["x-gateway-cache"] == "miss"
    assert again.parse().data[0].embedding == first.parse().data[0].embedding == vector_for("cached text", 6)
    assert again.headers["x-gateway-cost-usd"] == "0.00000000"
    assert len(embedding_bodies(gateway.external)) == 2


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "bank-embed", "input": []}, "input"),
        ({"model": "bank-embed", "input": ""}, "input"),
        ({"model": "bank-embed", "input": [1, "a"]}, "input"),
        ({"model": "bank-embed", "input": [[99999999]]}, "input.0"),
        ({"model": "bank-embed", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "bank-embed", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "bank-embed", "input": "x", "api_base": "http://elsewhere"}, "body"),
        ({"input": "x"}, "model"),
    ],
)
def test_bad_input_gets_openais_error_shape(gateway: RunningGateway, body: dict[str, object], param: str) -> None:
    response = gateway.http.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    check("ErrorResponse", response.json())
    assert embedding_bodies(gateway.external) == embedding_bodies(gateway.onprem) == []


def test_the_client_sees_a_bad_request_not_a_server_error(gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError):
        client_of(gateway).embeddings.create(model="bank-embed", input=[])
    with pytest.raises(openai.NotFoundError):
        client_of(gateway).embeddings.create(model="no-such-model", input="x")
    body = gateway.http.post("/v1/embeddings", content=b"{not json").json()
    assert body["error"]["type"] == "invalid_request_error"


def test_a_model_whose_route_has_no_embedding_target_is_refused_without_sending(gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_of(gateway).embeddings.create(model="chat-only", input="hello")
    assert caught.value.code == "model_not_supported"
    assert gateway.external.requests == [] and gateway.onprem.requests == []


def test_an_upstream_failure_falls_back_to_the_next_permitted_target(gateway: RunningGateway) -> None:
    gateway.external.fail_next(500, times=None, path=EMBEDDINGS_PATH)
    raw = client_of(gateway).embeddings.with_raw_response.create(model="bank-embed", input="fallback please")
    assert raw.headers["x-gateway-target"] == "onprem-embed" and int(raw.headers["x-gateway-fallbacks"]) >= 1
    gateway.external.clear_faults()


def test_models_lists_the_apis_each_model_serves(gateway: RunningGateway) -> None:
    listed = {m["id"]: m for m in gateway.http.get("/v1/models").json()["data"]}
    assert "embeddings" in listed["bank-embed"]["apis"] and "chat" in listed["bank-embed"]["apis"]
    assert listed["chat-only"]["apis"] == ["chat", "responses", "messages"]
    only = gateway.http.get("/v1/models", params={"api": "embeddings"}).json()
    assert [m["id"] for m in only["data"]] == ["bank-embed"]
    assert [m.id for m in client_of(gateway).models.list()] == ["bank-embed", "chat-only"]
    assert gateway.http.get("/v1/models", params={"api": "images"}).status_code == 400


def test_each_request_leaves_a_ledger_row_and_an_audit_record_that_say_embeddings(gateway: RunningGateway) -> None:
    client_of(gateway).embeddings.create(model="bank-embed", input="ledger me please")
    engine = sa.create_engine(f"sqlite:///{gateway.database}")
    with engine.connect() as db:
        for _ in range(50):
            row = db.execute(sa.text("SELECT * FROM ledger ORDER BY ts DESC LIMIT 1")).mappings().first()
            if row is not None and row["route"] == "embeddings" and row["prompt_tokens"] == 3:
                break
            time.sleep(0.1)
    assert row is not None and row["target"] == "ext-embed" and row["outcome"] == "ok"
    assert row["api"] == "embeddings" and row["level"] == "internal" and row["route"] == "embeddings"
    assert row["prompt_tokens"] == 3 and row["completion_tokens"] == 0
    with engine.connect() as db:
        for _ in range(50):
            audit = db.execute(
                sa.text("SELECT body FROM audit_log WHERE request_id = :id"), {"id": row["request_id"]}
            ).first()
            if audit is not None:
                break
            time.sleep(0.1)
    assert audit is not None and '"api":"embeddings"' in audit[0] and "ledger me" not in audit[0]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["bank-embed", "chat-only", "", "x"]) | JSON,
        "input": st.text(max_size=30) | st.lists(st.text(max_size=10), max_size=3) | st.lists(st.integers(), max_size=3)
        | JSON,
        "dimensions": st.integers(-2, 10) | JSON,
        "encoding_format": st.sampled_from(["float", "base64", "int8"]) | JSON,
        "user": JSON,
    },
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=FIELDS | JSON)
def test_any_body_gets_an_answer_or_openais_error_never_a_server_error(gateway: RunningGateway, body: object) -> None:
    response = gateway.http.post("/v1/embeddings", json=body)
    assert response.status_code in (200, 400, 404, 413), response.text
    if response.status_code != 200:
        check("ErrorResponse", response.json())
