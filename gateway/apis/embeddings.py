"""Wire models of OpenAI's Embeddings API (``POST /v1/embeddings``), as the gateway accepts it.

The request is parsed as strictly as a chat request (``gateway/protocol.py``):
an unknown field is refused with a 400 that names its position, never its
text, and the fields that would choose an upstream are refused. ``input`` is
a string or a list of up to 2,048 strings, none empty; or tokens, a list of
token ids or a list of such lists, which is what OpenAI's own clients send
when they cut long texts (LangChain's ``OpenAIEmbeddings`` does by default).
Tokens cannot be classified, so they are decoded first, with ``cl100k_base``,
the encoding of OpenAI's embedding models and the one those clients use
(read offline, ``gateway/tokens.py``): the text is what is classified and what
is sent, to any target, whose own tokenizer may differ. An id the encoding
does not have is a 400.

What leaves is built from the validated request alone (``EmbeddingsRequest.outbound``):
the texts, ``dimensions`` and ``user``, sealed like a chat request's content
(``gateway/outbound.py``); ``encoding_format`` shapes the gateway's own answer
(vectors are fetched as floats and encoded here), ``model`` names a virtual model.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError, model_validator

from gateway.body import json_object
from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.outbound import Outbound
from gateway.protocol import ROUTING_FIELDS, describe_validation_error
from gateway.tokens import TokenCounter

MAX_INPUTS = 2048
MAX_TOKENS_PER_INPUT = 8192
TOKEN_ENCODING = "cl100k_base"
_OPENAI_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})

Text = Annotated[str, StringConstraints(min_length=1)]
TokenIds = Annotated[list[Annotated[int, Strict(), Field(ge=0)]], Field(min_length=1, max_length=MAX_TOKENS_PER_INPUT)]
# A decoder of token ids: ``ValueError`` for an id its encoding does not have.
Decoder = Callable[[Sequence[int]], str]


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    input: (
        Text
        | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)]
        | TokenIds
        | Annotated[list[TokenIds], Field(min_length=1, max_length=MAX_INPUTS)]
    )
    dimensions: Annotated[int, Strict(), Field(ge=1, le=65536)] | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = Field(default=None, max_length=256)

    @model_validator(mode="before")
    @classmethod
    def _no_routing_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refused = sorted(ROUTING_FIELDS.intersection(data))
            if refused:
                raise ValueError(
                    f"field {refused[0]!r} is not accepted: upstreams and routing are set by the gateway's policy"
                )
        return data

    @property
    def tokenized(self) -> bool:
        return isinstance(self.input, list) and not isinstance(self.input[0], str)

    def texts(self, decode: Decoder) -> list[str]:
        """The inputs as texts, in order: token arrays decoded with ``decode`` (400 for an unknown id)."""
        if isinstance(self.input, str):
            return [self.input]
        if isinstance(self.input[0], str):
            return [str(text) for text in self.input]
        arrays: list[Any] = [self.input] if isinstance(self.input[0], int) else list(self.input)
        texts = []
        for i, ids in enumerate(arrays):
            try:
                text = decode(ids)
            except (ValueError, KeyError, OverflowError):
                param = "input" if isinstance(self.input[0], int) else f"input.{i}"
                raise InvalidRequest(
                    f"Invalid value for {param!r}: a token id is not one of {TOKEN_ENCODING}'s.", param=param
                ) from None
            if not text:
                raise InvalidRequest(f"Invalid value for 'input.{i}': it decodes to no text.", param="input")
            texts.append(text)
        return texts

    def outbound(self, texts: list[str]) -> Outbound:
        """What may leave for a target, sealed: the texts, ``dimensions`` and ``user``."""
        params: dict[str, Any] = {"input": texts}
        if self.dimensions is not None:
            params["dimensions"] = self.dimensions
        if self.user is not None:
            params["user"] = self.user
        return Outbound.sealed([], params)


def parse_request(raw: bytes, max_inputs: int = MAX_INPUTS) -> EmbeddingsRequest:
    """The validated request, or ``InvalidRequest`` / ``PayloadTooLarge`` naming the field, never its text."""
    payload = json_object(raw)
    inputs = payload.get("input")
    if isinstance(inputs, list) and len(inputs) > max_inputs and not all(isinstance(i, int) for i in inputs):
        raise PayloadTooLarge(f"At most {max_inputs} inputs are accepted in one request.", param="input")
    if inputs == "" or inputs == []:
        raise InvalidRequest("'input' must hold at least one non-empty text.", param="input")
    try:
        return EmbeddingsRequest.model_validate(payload)
    except ValidationError as exc:
        message, param = _describe(exc, payload, max_inputs)
        raise InvalidRequest(message, param=param) from None


def _describe(exc: ValidationError, payload: dict[str, Any], max_inputs: int) -> tuple[str, str | None]:
    """The field at fault, by its API name (an unknown key by its position: keys can carry text), never a value."""
    errors = exc.errors()
    field = next((str(e["loc"][0]) for e in errors if e["loc"] and e["type"] == "extra_forbidden"), None)
    if field is not None:
        where = field if field in _OPENAI_FIELDS else f"<key {list(payload).index(field)}>"
        return f"Unknown field {where!r}: it is not part of the API the gateway accepts.", where
    if any(e["loc"] and e["loc"][0] == "input" for e in errors):
        return (
            "Invalid value for 'input': give a non-empty string, a list of up to "
            f"{max_inputs} non-empty strings, or token ids (a list of integers, or a list of such lists).",
            "input",
        )
    err = errors[0]
    where = str(err["loc"][0]) if err["loc"] and str(err["loc"][0]) in _OPENAI_FIELDS else "body"
    message, _ = describe_validation_error(exc, payload)
    if err["type"] == "missing":
        return f"Missing required field {where!r}.", where
    if err["type"] == "value_error":
        return message, where
    return f"Invalid value for {where!r}.", where


def embeddings_outbound(raw: bytes, decode: Decoder | None = None) -> Outbound:
    """What a request body would send (``policy explain`` and ``policy test``); token ids decoded offline."""
    request = parse_request(raw)
    if decode is None and request.tokenized:
        decode = TokenCounter().encoding(TOKEN_ENCODING).decode
    return request.outbound(request.texts(decode or _no_tokens))


def _no_tokens(ids: Sequence[int]) -> str:
    raise ValueError("no token ids here")


def embeddings_body(
    vectors: Sequence[Sequence[float]], model: str, prompt_tokens: int, encoding_format: str
) -> dict[str, Any]:
    """OpenAI's ``CreateEmbeddingResponse``: one item per input; base64 is little-endian float32, as OpenAI sends."""
    data = [
        {"object": "embedding", "index": i, "embedding": encode_vector(vector, encoding_format)}
        for i, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def encode_vector(vector: Sequence[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return list(vector)
