"""Wire models of the OpenAI Chat Completions API, as the gateway accepts it.

Parsing is strict at every depth: an unknown field anywhere (the request, a
message, a content part, a tool, ``tool_choice``, ``response_format``...) is
refused with a 400 that names its position, never its text (a key can be the
prompt). The fields some proxies accept to redirect traffic (``api_base``,
``base_url``, ``api_key``, ``fallbacks``, ``mock_response``...) are refused
with a message that says why; the fields of OpenAI's API the gateway does not
serve (``NOT_SUPPORTED``, ``store: true``...) with one that says "not supported
here" and why. Free-form JSON is accepted where the APIs define it, all of it
sent upstream and read whole by the classifier (keys and values,
``gateway/outbound.py``): a function's ``parameters`` schema, a ``json_schema``
response format's ``schema``, vLLM's ``guided_json`` and ``chat_template_kwargs``.

Every field says where it goes (``Fate``, read by ``fate_of``): to every target,
to ``openai_compatible`` targets only (vLLM's extras), translated (legacy
``functions``/``function_call`` become ``tools``/``tool_choice``), or the
gateway's own. ``FORWARDED_PARAMS``, the one list every adapter's list derives
from, is read from those marks. What leaves is built from these models alone
(``ChatCompletionRequest.params``): the messages and the forwarded parameters.
``metadata`` and ``store: false`` are accepted and never sent (at a provider
they only concern stored completions, which the gateway never asks for).
Answers are built in ``gateway/answers.py``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import PydanticCustomError

# The answers' builders, where the request path has always imported them from.
from gateway.answers import chunk_body as chunk_body
from gateway.answers import completion_body as completion_body
from gateway.answers import usage_body as usage_body

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

NOT_SUPPORTED = {
    "audio": "audio output is not served: the gateway's targets answer in text",
    "prediction": "predicted outputs are not passed to any target",
    "web_search_options": "a model may not search the web from behind the gateway (what it sends is unclassified)",
    "moderation": "moderation is not run by the targets behind the gateway",
    "prompt_cache_options": "the gateway asks no provider to keep prompts longer than its default",
    "prompt_cache_retention": "the gateway asks no provider to keep prompts longer than its default",
}
"""Fields of OpenAI's Chat Completions API the gateway refuses (400), and why: never silently dropped."""

Fate = Literal["all", "openai_compatible", "translated", "gateway"]
"""What becomes of a request field: passed on to every target (``all``), to ``openai_compatible``
targets only (vLLM's extras), translated into other fields (legacy ``functions``), or used by the
gateway itself and not sent (``gateway``: ``model``, ``messages``, ``stream``...)."""


def _param(to: Fate = "all", **constraints: Any) -> Any:
    """A request field's default (``None``) and its fate, read back by ``fate_of``."""
    return Field(default=None, json_schema_extra={"x-forwarded-to": to}, **constraints)


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
    include_obfuscation: bool | None = None  # false only: the gateway's chunks carry no padding


class ChatCompletionRequest(_Wire):
    """One Chat Completions request; each field's ``x-forwarded-to`` says where it goes (``Fate``)."""

    model: str = Field(min_length=1, max_length=256)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = _param("gateway")
    n: Annotated[int, Field(ge=1, le=1)] | None = _param("gateway")
    temperature: Annotated[float, Field(ge=0, le=2)] | None = _param()
    top_p: Annotated[float, Field(gt=0, le=1)] | None = _param()
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = _param()
    max_completion_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = _param()
    stop: StopSequence | Annotated[list[StopSequence], Field(max_length=4)] | None = _param()
    seed: int | None = _param()
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = _param()
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = _param()
    logit_bias: Annotated[dict[TokenId, Annotated[float, Field(ge=-100, le=100)]], Field(max_length=1024)] | None = (
        _param()
    )
    logprobs: bool | None = _param()
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = _param()
    tools: Annotated[list[Tool], Field(max_length=128)] | None = _param()
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = _param()
    parallel_tool_calls: bool | None = _param()
    response_format: ResponseFormat | None = _param()
    user: str | None = _param(max_length=256)
    safety_identifier: str | None = _param(max_length=64)
    prompt_cache_key: str | None = _param(max_length=256)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = _param()
    verbosity: Literal["low", "medium", "high"] | None = _param()
    # Legacy function calling: sent as ``tools``/``tool_choice``, answered as ``function_call``.
    functions: Annotated[list[FunctionDefinition], Field(min_length=1, max_length=128)] | None = _param("translated")
    function_call: Literal["none", "auto"] | NamedFunction | None = _param("translated")
    # Kept by the gateway, sent nowhere: at a provider they only tag stored completions, and
    # the gateway never asks one to store a completion (``store: true`` is refused).
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)] | None = _param("gateway")
    store: bool | None = _param("gateway")
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None = _param("gateway")
    modalities: list[Literal["text", "audio"]] | None = _param("gateway")
    # vLLM's extra sampling and structured-output parameters: for ``openai_compatible`` targets only.
    top_k: Annotated[int, Field(ge=-1, le=1_000_000)] | None = _param("openai_compatible")
    min_p: Annotated[float, Field(ge=0, le=1)] | None = _param("openai_compatible")
    min_tokens: Annotated[int, Field(ge=0, le=1_000_000)] | None = _param("openai_compatible")
    repetition_penalty: Annotated[float, Field(gt=0, le=10)] | None = _param("openai_compatible")
    chat_template_kwargs: dict[str, Any] | None = _param("openai_compatible")  # free-form, read whole
    guided_json: dict[str, Any] | str | None = _param("openai_compatible")  # a JSON Schema, read whole
    guided_regex: str | None = _param("openai_compatible", max_length=4096)
    guided_choice: Annotated[list[str], Field(min_length=1, max_length=256)] | None = _param("openai_compatible")
    guided_grammar: str | None = _param("openai_compatible", max_length=65536)

    @model_validator(mode="before")
    @classmethod
    def _no_routing_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refused = sorted(ROUTING_FIELDS.intersection(data))
            if refused:
                raise ValueError(
                    f"field {refused[0]!r} is not accepted: upstreams and routing are set by the gateway's policy"
                )
            for name in sorted(NOT_SUPPORTED.keys() & data.keys()):
                if data[name] is not None:
                    raise not_supported(name, NOT_SUPPORTED[name])
        return data

    @model_validator(mode="after")
    def _supported(self) -> ChatCompletionRequest:
        if self.store:
            raise not_supported("store", "the gateway never asks a provider to store a completion")
        if self.service_tier not in (None, "auto", "default"):
            raise not_supported("service_tier", "only the standard tier is served (its price is the one recorded)")
        if self.modalities is not None and "audio" in self.modalities:
            raise not_supported("modalities", "audio output is not served: the gateway's targets answer in text")
        if self.stream_options is not None and self.stream_options.include_obfuscation:
            raise not_supported("stream_options.include_obfuscation", "the gateway's chunks carry no padding")
        if self.functions is not None and self.tools is not None:
            raise not_supported("functions", "send either 'tools' or the older 'functions', not both")
        if self.function_call is not None and (self.functions is None or self.tool_choice is not None):
            raise not_supported("function_call", "it goes with 'functions' and without 'tool_choice'")
        return self

    @property
    def legacy_functions(self) -> bool:
        """Whether the client speaks the older function calling: answered as ``function_call``."""
        return self.functions is not None

    def params(self) -> dict[str, Any]:
        """The parameters that go to the model, as the client set them, in their wire shape;
        legacy ``functions``/``function_call`` as the ``tools``/``tool_choice`` they mean."""
        out: dict[str, Any] = {}
        for name in FORWARDED_PARAMS:
            value = getattr(self, name)
            if value is None:
                continue
            out[name] = _dump(value)
        if self.functions is not None:
            out["tools"] = [{"type": "function", "function": _dump(f)} for f in self.functions]
        if isinstance(self.function_call, str):
            out["tool_choice"] = self.function_call
        elif self.function_call is not None:
            out["tool_choice"] = {"type": "function", "function": _dump(self.function_call)}
        return out

    def wire_messages(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True, by_alias=True) for m in self.messages]


def not_supported(param: str, why: str) -> PydanticCustomError:
    """The 400 for a field of the API the gateway does not serve; names the field, never its value."""
    return PydanticCustomError("not_supported", f"'{param}' is not supported here: {why}.", {"param": param})


def fate_of(name: str) -> Fate:
    """Where a request field goes (``Fate``); fields without a mark are the gateway's own."""
    extra = ChatCompletionRequest.model_fields[name].json_schema_extra
    fate = extra.get("x-forwarded-to") if isinstance(extra, dict) else None
    return typing.cast(Fate, fate or "gateway")


FORWARDED_PARAMS = tuple(n for n in ChatCompletionRequest.model_fields if fate_of(n) in ("all", "openai_compatible"))
"""Parameters passed on to the model: the one list, from the wire model (everything else is ours)."""
OPENAI_COMPATIBLE_ONLY = frozenset(n for n in FORWARDED_PARAMS if fate_of(n) == "openai_compatible")
"""vLLM's extras: sent to ``openai_compatible`` targets only."""
SAMPLING_FIELDS = FORWARDED_PARAMS  # the name older code and tests use


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
    if kind == "not_supported":
        return str(err["msg"]), str((err.get("ctx") or {}).get("param") or where)
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
