"""The Embeddings API's wire: what the gateway accepts, what it sends, what it answers."""

from __future__ import annotations

import base64
import struct

import orjson
import pytest

from gateway.apis.embeddings import embeddings_body, embeddings_outbound, parse_request
from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.tokens import TokenCounter
from tests.upstreams.openapi_schema import check

DECODE = TokenCounter().encoding("cl100k_base").decode


def parsed(body: object) -> list[str]:
    request = parse_request(orjson.dumps(body))
    return request.texts(DECODE)


def test_every_input_shape_becomes_texts() -> None:
    tokens = TokenCounter().encoding("cl100k_base").encode
    assert parsed({"model": "m", "input": "one"}) == ["one"]
    assert parsed({"model": "m", "input": ["one", "two"]}) == ["one", "two"]
    assert parsed({"model": "m", "input": tokens("Hello world")}) == ["Hello world"]
    assert parsed({"model": "m", "input": [tokens("a b"), tokens("c")]}) == ["a b", "c"]


def test_what_leaves_is_the_texts_dimensions_and_user_and_each_input_is_read_on_its_own() -> None:
    outbound = embeddings_outbound(orjson.dumps({"model": "m", "input": ["x 4111", "1111 y"], "dimensions": 3,
                                                 "user": "u-1", "encoding_format": "base64"}))  # fmt: skip
    assert outbound.messages == [] and outbound.params == {
        "input": ["x 4111", "1111 y"],
        "dimensions": 3,
        "user": "u-1",
    }
    texts, unreadable = outbound.texts()
    assert not unreadable and texts[:2] == ["x 4111", "1111 y"]  # two texts: no number made across inputs
    assert "u-1" in texts[2]  # every other string is read too


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": [""]}, "input"),
        ({"model": "m", "input": [["a"]]}, "input"),
        ({"model": "m", "input": [-1]}, "input"),
        ({"model": "m", "input": {"text": "a"}}, "input"),
        ({"model": "m", "input": "a", "dimensions": "8"}, "dimensions"),
        ({"model": "m", "input": "a", "user": "u" * 300}, "user"),
        ({"model": "m", "input": "a", "base_url": "http://x"}, "body"),
        ({"model": "m", "input": "a", "Card 4111 1111 1111 1111": 1}, "<key 2>"),
        ({"model": "", "input": "a"}, "model"),
    ],
)
def test_bad_bodies_name_the_field_never_the_text(body: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parsed(body)
    assert refused.value.param == param and "4111" not in refused.value.message


def test_unknown_token_ids_and_too_many_inputs_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="cl100k_base"):
        parsed({"model": "m", "input": [[100_000_000]]})
    with pytest.raises(PayloadTooLarge):
        parsed({"model": "m", "input": ["a"] * 2049})
    for raw in (b"[1]", b"not json"):
        with pytest.raises(InvalidRequest):
            parse_request(raw)


def test_the_answer_is_openais_in_both_encodings() -> None:
    vectors = [[0.25, -0.5, 1.0], [0.0, 0.125, -2.0]]
    floats = embeddings_body(vectors, "bank-embed", 5, "float")
    check("CreateEmbeddingResponse", floats)
    assert floats["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    encoded = embeddings_body(vectors, "bank-embed", 5, "base64")
    for item, vector in zip(encoded["data"], vectors, strict=True):
        assert struct.unpack("<3f", base64.b64decode(item["embedding"])) == tuple(vector)
