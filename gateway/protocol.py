"""Wire models of the OpenAI Chat Completions API, as the gateway accepts it.

Parsing is strict: an unknown field is refused rather than ignored, and the
fields some proxies accept to redirect traffic (``api_base``, ``base_url``,
``api_key``, ``fallbacks``, ``mock_response``...) are refused with a message
that says why. Responses are built as plain dicts (``completion_body``,
``chunk_body``) and serialised with orjson.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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

# Parameters passed on to the model (everything else in the request is ours).
SAMPLING_FIELDS = (
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


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContentPart(BaseModel):
    """A part of a message's content: text, or something we cannot read (image, audio, file)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=64)
    text: str | None = None


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
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = None
    n: Annotated[int, Field(ge=1, le=1)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = Field(default=None, max_length=256)
    reasoning_effort: str | None = None
    metadata: dict[str, str] | None = None
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
        """The parameters that go to the model, as the client set them."""
        return {name: getattr(self, name) for name in SAMPLING_FIELDS if getattr(self, name) is not None}

    def wire_messages(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in self.messages]


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
