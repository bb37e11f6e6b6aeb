"""Wire models of the OpenAI Chat Completions API, as the gateway accepts it.

Parsing is strict at every depth: an unknown field anywhere (the request, a
message, a content part, a tool, ``tool_choice``, ``response_format``...) is
refused with a 400 that names its position, never its text (a key can be the
prompt). The fields some proxies accept to redirect traffic (``api_base``,
``base_url``, ``api_key``, ``fallbacks``, ``mock_response``...) are refused
with a message that says why. Free-form JSON is accepted in exactly two
places, both sent upstream and both read whole by the classifier (keys and
values, ``gateway/outbound.py``): a function's ``parameters`` schema and a
``json_schema`` response format's ``schema``.

What leaves is built from these models alone (``ChatCompletionRequest.forwarded``):
the messages and the ``FORWARDED_PARAMS``. ``n`` (1 only), ``stream`` and
``stream_options`` shape the gateway's own answer; ``metadata`` and ``store``
are accepted for client compatibility and dropped: nothing of them leaves.
Responses are built as plain dicts (``completion_body``, ``chunk_body``) and
serialised with orjson.
"""

from __future__ import annotations

import time
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from adapters.base import Completion, Usage

# Fields that would let a client choose where traffic goes or how it is routed.
ROUTING_FIELDS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "fallbacks",
        "context_window_fallbacks",
        "custom_llm_provider",
        "extra_headers",
        "headers",
        "mock_response",
        "mock_testing_fallbacks",
        "mock_timeout",
        "num_retries",
        "organization",
        "deployment_id",
    }
)

# Parameters passed on to the model: the one list (everything else in the request is ours).
FORWARDED_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "user",
    "reasoning_effort",
)
SAMPLING_FIELDS = FORWARDED_PARAMS  # the name older code and tests use

# A token id, as ``logit_bias`` keys it: digits only, short (no vocabulary has 10M tokens).
TokenId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,7}$")]
FunctionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
StopSequence = Annotated[str, Field(max_length=256)]
MetadataKey = Annotated[str, Field(max_length=64)]
MetadataValue = Annotated[str, Field(max_length=512)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- content parts -------------------------------------------------------------


class TextPart(_Wire):
    type: Literal["text"]
    text: str


class RefusalPart(_Wire):
    type: Literal["refusal"]
    refusal: str


class ImageURL(_Wire):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Wire):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Wire):
    data: str
    format: Literal["wav", "mp3"]


class AudioPart(_Wire):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(_Wire):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Wire):
    type: Literal["file"]
    file: FileRef


ContentPart = Annotated[TextPart | RefusalPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
UNREADABLE_PARTS = frozenset({"image_url", "input_audio", "file"})
"""Content the classifier cannot read: a request carrying one is decided at the policy's ``on_error``."""


# -- messages ------------------------------------------------------------------


class FunctionCall(_Wire):
    name: str = Field(max_length=256)
    arguments: str = ""


class ToolCall(_Wire):
    id: str = Field(max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=256)
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = Field(default=None, max_length=256)
    function_call: FunctionCall | None = None
    refusal: str | None = None


# -- tools and formats -----------------------------------------------------------


class FunctionDefinition(_Wire):
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema: free-form, read whole by the classifier
    strict: bool | None = None


class Tool(_Wire):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_Wire):
    name: FunctionName


class NamedToolChoice(_Wire):
    type: Literal["function"]
    function: NamedFunction


class JSONSchemaFormat(_Wire):
    name: FunctionName
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")  # free-form, read whole
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class TextFormat(_Wire):
    type: Literal["text"]


class JSONObjectFormat(_Wire):
    type: Literal["json_object"]


class JSONSchemaResponseFormat(_Wire):
    type: Literal["json_schema"]
    json_schema: JSONSchemaFormat


ResponseFormat = Annotated[TextFormat | JSONObjectFormat | JSONSchemaResponseFormat, Field(discriminator="type")]


class StreamOptions(_Wire):
    include_usage: bool = False


class ChatCompletionRequest(_Wire):
    model: str = Field(min_length=1, max_length=256)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    stop: StopSequence | Annotated[list[StopSequence], Field(max_length=4)] | None = None
    seed: int | None = None
    n: Annotated[int, Field(ge=1, le=1)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    logit_bias: Annotated[dict[TokenId, Annotated[float, Field(ge=-100, le=100)]], Field(max_length=1024)] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    user: str | None = Field(default=None, max_length=256)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)] | None = None
    store: bool | None = None

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

    def params(self) -> dict[str, Any]:
        """The parameters that go to the model, as the client set them, in their wire shape."""
        out: dict[str, Any] = {}
        for name in FORWARDED_PARAMS:
            value = getattr(self, name)
            if value is None:
                continue
            out[name] = _dump(value)
        return out

    def wire_messages(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True, by_alias=True) for m in self.messages]


def _dump(value: Any) -> Any:
    """A parameter in its wire shape: models as the JSON objects they were sent as."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True, by_alias=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


# -- the wire's own words, and errors that name positions, never content ------------

JSON_SCHEMA_WORDS = frozenset(
    {
        "$defs", "$ref", "$schema", "additionalProperties", "allOf", "anyOf", "array", "boolean", "const",
        "contains", "date", "date-time", "default", "definitions", "email", "enum", "examples",
        "exclusiveMaximum", "exclusiveMinimum", "format", "integer", "items", "maxItems", "maxLength",
        "maximum", "minItems", "minLength", "minimum", "multipleOf", "not", "null", "nullable", "number",
        "object", "oneOf", "pattern", "patternProperties", "prefixItems", "properties", "propertyNames",
        "required", "string", "title", "type", "uniqueItems", "uri", "uuid",
    }
)  # fmt: skip


def _wire_words(model: type[BaseModel]) -> Iterator[str]:
    """Field names, aliases and literal values of a wire model and every model inside it."""
    seen: set[type[BaseModel]] = set()

    def annotation_words(annotation: Any) -> Iterator[str]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from model_words(annotation)
            return
        if typing.get_origin(annotation) is typing.Literal:
            yield from (str(v) for v in typing.get_args(annotation))
            return
        for arg in typing.get_args(annotation):
            if not isinstance(arg, str | int | float | bool | types.NoneType):
                yield from annotation_words(arg)

    def model_words(cls: type[BaseModel]) -> Iterator[str]:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            yield name
            if info.alias:
                yield info.alias
            yield from annotation_words(info.annotation)

    yield from model_words(model)


VOCABULARY = frozenset(_wire_words(ChatCompletionRequest)) | JSON_SCHEMA_WORDS
"""Strings that carry no data: the wire format's own words. Everything else is classified."""


OTHER_API_WORDS = frozenset(
    {
        "audio", "functions", "function_call", "modalities", "prediction", "prompt_cache_key",
        "safety_identifier", "service_tier", "verbosity", "web_search_options", "include_obfuscation",
        "top_k", "min_p", "repetition_penalty", "chat_template_kwargs", "guided_json", "guided_regex",
        "guided_choice", "allowed_tools", "custom", "annotations", "reasoning_content",
    }
)  # fmt: skip
"""Field names of OpenAI's and vLLM's APIs that the gateway does not take: an error may name them."""

VOCABULARY = frozenset(_wire_words(ChatCompletionRequest)) | JSON_SCHEMA_WORDS
"""Strings that carry no data: the wire format's own words. Everything else is classified."""


def vocabulary_of(model: type[BaseModel]) -> frozenset[str]:
    """Another API's own words (its wire models'), for ``describe_validation_error`` on its requests."""
    return frozenset(_wire_words(model)) | JSON_SCHEMA_WORDS


_SAFE_MESSAGES = {  # pydantic error types whose message states the rule, never the value sent
    "missing", "string_type", "int_type", "float_type", "bool_type", "dict_type", "list_type",
    "int_parsing", "float_parsing", "bool_parsing", "greater_than", "greater_than_equal", "less_than",
    "less_than_equal", "too_short", "too_long", "string_too_short", "string_too_long", "literal_error",
    "model_type", "model_attributes_type", "int_from_float", "finite_number", "none_required",
    "string_pattern_mismatch",
}  # fmt: skip


def describe_validation_error(
    exc: ValidationError, body: Any, vocabulary: frozenset[str] = VOCABULARY
) -> tuple[str, str | None]:
    """``(message, param)`` for one problem: the field's position and the rule broken.

    A key of ours (or of the public API: ``vocabulary``, another API's words for its
    own models) is named; any other key is shown by its position in its object
    (``<key 3>``): keys can carry the prompt. Values are never shown.
    """
    errors = exc.errors()
    # In a union, pydantic reports every member's complaint; the deepest is the one about what was sent.
    err = max(reversed(errors), key=lambda e: len(e["loc"]))
    where = _position(err["loc"], body, vocabulary) or "body"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"Unknown field {where!r}: it is not part of the API the gateway accepts.", where
    if kind == "missing":
        return f"Missing required field {where!r}.", where
    if kind == "union_tag_invalid":
        return f"Invalid value for {where!r}: its 'type' is not one the gateway accepts.", where
    if kind == "value_error" and str(err["msg"]).startswith("Value error, "):
        return str(err["msg"]).removeprefix("Value error, "), where
    if kind in _SAFE_MESSAGES:
        return f"Invalid value for {where!r}: {err['msg']}.", where
    return f"Invalid value for {where!r}.", where


def _position(loc: tuple[int | str, ...], body: Any, vocabulary: frozenset[str] = VOCABULARY) -> str:
    """``loc`` as a dotted path through ``body``; keys that are not API words become ``<key N>``."""
    parts: list[str] = []
    node, tag_seen = body, False
    for step in loc:
        arrived, tag_seen = not tag_seen, True  # a member's tag comes once, right after its place
        if isinstance(step, int):
            tag_seen = False
            parts.append(str(step))
            node = node[step] if isinstance(node, list) and -len(node) <= step < len(node) else None
        elif arrived and isinstance(node, dict) and node.get("type") == step and step in vocabulary:
            continue  # the tag of a tagged union's member (``text``, ``json_schema``): not a place
        elif isinstance(node, dict) and step in node:
            parts.append(step if step in vocabulary or step in OTHER_API_WORDS else f"<key {list(node).index(step)}>")
            node, tag_seen = node[step], False
        elif step in vocabulary and isinstance(node, dict):
            parts.append(step)  # a field of ours that is missing
            node = None
        # else: pydantic's name for a union member (``str``, ``list[...]``): not a place in the body
    return ".".join(parts)


def usage_body(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_prompt_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_prompt_tokens}
    return body


def completion_body(request_id: str, model: str, completion: Completion, created: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": completion.content}
    if completion.tool_calls:
        message["tool_calls"] = completion.tool_calls
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": completion.finish_reason, "logprobs": None}],
        "usage": usage_body(completion.usage),
    }


def chunk_body(
    request_id: str,
    model: str,
    created: int,
    *,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
    with_choice: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason, "logprobs": None}]
        if with_choice
        else [],
    }
    if usage is not None:
        body["usage"] = usage_body(usage)
    return body
