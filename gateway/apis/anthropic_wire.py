"""Wire models of Anthropic's Messages API (``POST /v1/messages``), as the gateway accepts it.

Strict like ``gateway/protocol.py``: an unknown field at any depth is a 400
that names its position, never its text. What the gateway cannot carry to its
targets is refused with a reason (``UNSUPPORTED``, server tools, image and
document blocks), never dropped. Two things are accepted and not forwarded,
because neither is content and neither changes the answer: ``cache_control``
(a hint for Anthropic's own prompt cache) and the ``anthropic-version`` and
``anthropic-beta`` headers.

Free-form JSON is accepted where the API has it, and all of it is sent on as
chat fields that the classifier reads whole: a tool's ``input_schema`` (the
chat tool's ``parameters``) and a ``tool_use`` block's ``input`` (the chat tool
call's ``arguments``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]

UNSUPPORTED = {
    "top_k": "'top_k' is not supported: the gateway's targets take 'temperature' and 'top_p'.",
    "thinking": "'thinking' (extended thinking) is not supported by the gateway's targets.",
    "container": "'container' is not supported: the gateway runs no server-side tools.",
    "mcp_servers": "'mcp_servers' is not supported: the gateway runs no server-side tools.",
    "context_management": "'context_management' is not supported: the gateway keeps no conversation state.",
    "service_tier": "'service_tier' is not supported: the gateway's policy chooses where a request runs.",
    "inference_geo": "'inference_geo' is not supported: the gateway's policy chooses where a request runs.",
    "workspace_id": "'workspace_id' is not supported: the gateway's policy chooses where a request runs.",
    "speed": "'speed' is not supported: the gateway's policy chooses where a request runs.",
    "user_profile_id": "'user_profile_id' is not supported: send 'metadata.user_id'.",
    "diagnostics": "'diagnostics' is not supported: the gateway keeps no earlier messages.",
}
"""Fields of Anthropic's API that the gateway refuses, with the reason the client is told."""

CLIENT_TOOL_TYPES = frozenset({"custom"})
_TYPE_WORD = re.compile(r"^[a-z0-9_]{1,64}$")  # a tool type the API names (``web_search_20250305``): safe to name


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CacheControl(_Wire):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class TextBlock(_Wire):
    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None
    citations: Annotated[list[dict[str, Any]], Field(max_length=0)] | None = None  # the gateway's answers cite nothing


class Base64Source(_Wire):
    type: Literal["base64"]
    media_type: Annotated[str, StringConstraints(pattern=r"^[a-z]+/[a-z0-9.+\-]{1,64}$")]
    data: str


class URLSource(_Wire):
    type: Literal["url"]
    url: str


class TextSource(_Wire):
    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: str


class ContentSource(_Wire):
    type: Literal["content"]
    content: str | list[TextBlock]


class FileSource(_Wire):
    """A file of Anthropic's Files API: parsed only to be refused (the gateway has no such files)."""

    type: Literal["file"]
    file_id: str


class ImageBlock(_Wire):
    type: Literal["image"]
    source: Annotated[Base64Source | URLSource | FileSource, Field(discriminator="type")]
    cache_control: CacheControl | None = None


class Citations(_Wire):
    enabled: bool


class DocumentBlock(_Wire):
    type: Literal["document"]
    source: Annotated[Base64Source | URLSource | TextSource | ContentSource | FileSource, Field(discriminator="type")]
    title: str | None = None
    context: str | None = None
    citations: Citations | None = None
    cache_control: CacheControl | None = None


class ToolUseBlock(_Wire):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: ToolName
    input: dict[str, Any]  # free-form: sent as the chat tool call's arguments, classified whole
    cache_control: CacheControl | None = None
    caller: None = None  # the SDK echoes these back as null; the gateway's answers never set them
    toolset_name: None = None


class ToolResultBlock(_Wire):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: str | list[Annotated[TextBlock | ImageBlock | DocumentBlock, Field(discriminator="type")]] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None
    toolset_name: None = None


ContentBlock = Annotated[
    TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock, Field(discriminator="type")
]


class MessageParam(_Wire):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class ToolParam(_Wire):
    name: ToolName
    description: str | None = None
    input_schema: dict[str, Any]  # a JSON Schema: free-form, sent as the chat tool's parameters
    type: Literal["custom"] | None = None
    strict: bool | None = None
    cache_control: CacheControl | None = None
    eager_input_streaming: bool | None = None  # a streaming hint: the chat path streams arguments as they come


class ToolChoiceAuto(_Wire):
    type: Literal["auto"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(_Wire):
    type: Literal["any"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(_Wire):
    type: Literal["tool"]
    name: ToolName
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(_Wire):
    type: Literal["none"]


ToolChoice = Annotated[ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone, Field(discriminator="type")]


class OutputFormat(_Wire):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")  # free-form: sent as the chat response format's schema

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class OutputConfig(_Wire):
    effort: Literal["low", "medium", "high"] | None = None  # 'xhigh' and 'max' have no chat equivalent
    format: OutputFormat | None = None


class Metadata(_Wire):
    user_id: str | None = Field(default=None, max_length=256)


class MessagesRequest(_Wire):
    model: str = Field(min_length=1, max_length=256)
    messages: list[MessageParam] = Field(min_length=1)
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)]
    system: str | list[TextBlock] | None = None
    stop_sequences: Annotated[list[Annotated[str, Field(min_length=1, max_length=256)]], Field(max_length=4)] | None = (
        None
    )
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    stream: bool = False
    tools: Annotated[list[ToolParam], Field(max_length=128)] | None = None
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None
    output_config: OutputConfig | None = None
    cache_control: CacheControl | None = None

    @model_validator(mode="before")
    @classmethod
    def _refused_with_reason(cls, data: Any) -> Any:
        """Fields and tools the gateway knows and cannot serve: a reason, not just 'unknown field'."""
        if not isinstance(data, dict):
            return data
        for name, reason in UNSUPPORTED.items():
            if data.get(name) is not None and not (name == "thinking" and _thinking_off(data[name])):
                raise ValueError(reason)
        tools = data.get("tools")
        if isinstance(tools, list):
            for tool in tools:
                kind = tool.get("type") if isinstance(tool, dict) else None
                if isinstance(kind, str) and kind not in CLIENT_TOOL_TYPES:
                    named = repr(kind) if _TYPE_WORD.match(kind) else "of this type"  # never echo free text
                    raise ValueError(
                        f"Server tool {named} is not supported: the gateway forwards client tools only "
                        "(name, description, input_schema)."
                    )
        return {k: v for k, v in data.items() if k != "thinking"}


def _thinking_off(value: Any) -> bool:
    return isinstance(value, dict) and value == {"type": "disabled"}
