"""Wire models of OpenAI's Responses API (``POST /v1/responses``), as the gateway accepts it.

Strict like ``gateway/protocol.py``: an unknown field at any depth is a 400
that names its position. The gateway is stateless: it keeps no responses and no
conversations, so what needs stored state (``previous_response_id``,
``conversation``, item references, ``background``) is refused with that reason,
and ``store`` is accepted and answered as ``store: false`` whatever it says
(nothing is kept to be retrieved). Built-in tools (web search, file search,
code interpreter...) are refused: only function tools travel to the targets.

Free-form JSON is accepted where the API has it, all of it sent on and read
whole by the classifier: a function tool's ``parameters`` and a
``json_schema`` text format's ``schema``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, model_validator

FunctionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
_TYPE_WORD = re.compile(r"^[a-z0-9_]{1,64}$")

STATEFUL = {
    "previous_response_id": "'previous_response_id' is not supported: the gateway keeps no responses "
    "(store is always false). Send the whole conversation in 'input'.",
    "conversation": "'conversation' is not supported: the gateway keeps no conversation state. "
    "Send the whole conversation in 'input'.",
    "prompt": "'prompt' (stored prompt templates) is not supported: the gateway keeps no stored prompts.",
}
UNSUPPORTED = {
    "include": "'include' is not supported: the gateway's answers carry no extra output to include.",
    "max_tool_calls": "'max_tool_calls' is not supported: the gateway runs no built-in tools.",
    "service_tier": "'service_tier' is not supported: the gateway's policy chooses where a request runs.",
    "top_logprobs": "'top_logprobs' is not supported on /v1/responses.",
}
REFUSED_ITEMS = {
    "item_reference": "Item references need stored items: the gateway keeps none. Send the item itself.",
    "reasoning": "Reasoning items are not supported: the gateway's targets return none to send back.",
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputText(_Wire):
    type: Literal["input_text"]
    text: str


class OutputText(_Wire):
    type: Literal["output_text"]
    text: str
    annotations: Annotated[list[dict[str, Any]], Field(max_length=0)] = []  # the gateway's answers carry none
    logprobs: Annotated[list[dict[str, Any]], Field(max_length=0)] | None = None


class Refusal(_Wire):
    type: Literal["refusal"]
    refusal: str


class InputMedia(_Wire):
    """An image or a file: parsed only to be refused with a clear reason (``responses.py``)."""

    type: Literal["input_image", "input_file"]
    image_url: str | None = None
    file_id: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    filename: str | None = None
    detail: Literal["auto", "low", "high"] | None = None


ContentPart = Annotated[InputText | OutputText | Refusal | InputMedia, Field(discriminator="type")]


class MessageItem(_Wire):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    id: str | None = Field(default=None, max_length=256)
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallItem(_Wire):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=256)
    name: FunctionName
    arguments: str
    id: str | None = Field(default=None, max_length=256)
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallOutputItem(_Wire):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=256)
    output: str | list[Annotated[InputText | InputMedia, Field(discriminator="type")]]
    id: str | None = Field(default=None, max_length=256)
    status: Literal["in_progress", "completed", "incomplete"] | None = None


def _item_type(value: Any) -> str:
    """An input item's tag; a message may leave ``type`` out (the API's "easy input message")."""
    if isinstance(value, dict):
        return str(value.get("type", "message"))
    return str(getattr(value, "type", "message"))


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")],
    Discriminator(_item_type),
]


class FunctionTool(_Wire):
    type: Literal["function"]
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema: free-form, read whole by the classifier
    strict: bool | None = None


class FunctionChoice(_Wire):
    type: Literal["function"]
    name: FunctionName


class FormatText(_Wire):
    type: Literal["text"]


class FormatJSONObject(_Wire):
    type: Literal["json_object"]


class FormatJSONSchema(_Wire):
    type: Literal["json_schema"]
    name: FunctionName
    schema_: dict[str, Any] = Field(alias="schema")  # free-form, read whole
    description: str | None = None
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class TextConfig(_Wire):
    format: Annotated[FormatText | FormatJSONObject | FormatJSONSchema, Field(discriminator="type")] | None = None


class Reasoning(_Wire):
    effort: Literal["minimal", "low", "medium", "high"] | None = None


class ResponsesStreamOptions(_Wire):
    include_obfuscation: bool | None = None  # padding against length side channels: the gateway adds none


class ResponsesRequest(_Wire):
    model: str = Field(min_length=1, max_length=256)
    input: Annotated[str, Field(min_length=1)] | Annotated[list[InputItem], Field(min_length=1)]
    instructions: str | None = None
    tools: Annotated[list[FunctionTool], Field(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    truncation: Literal["disabled"] | None = None
    stream: bool = False
    stream_options: ResponsesStreamOptions | None = None
    store: bool | None = None
    background: Literal[False] | None = None
    metadata: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
                        Field(max_length=16)] | None = None  # fmt: skip
    user: str | None = Field(default=None, max_length=256)

    @model_validator(mode="before")
    @classmethod
    def _refused_with_reason(cls, data: Any) -> Any:
        """What the gateway knows and cannot serve: a reason, not just 'unknown field'."""
        if not isinstance(data, dict):
            return data
        for name, reason in (STATEFUL | UNSUPPORTED).items():
            value = data.get(name)
            if value is not None and value != []:
                raise ValueError(reason)
        if data.get("background") is True:
            raise ValueError("'background' is not supported: the gateway answers in the request, and keeps nothing.")
        if data.get("truncation") == "auto":
            raise ValueError("'truncation: auto' is not supported: the gateway never drops input; send 'disabled'.")
        for tool in data.get("tools") or ():
            kind = tool.get("type") if isinstance(tool, dict) else None
            if isinstance(kind, str) and kind != "function":
                named = repr(kind) if _TYPE_WORD.match(kind) else "of this type"  # never echo free text
                raise ValueError(f"Built-in tool {named} is not supported: the gateway forwards function tools only.")
        items = data.get("input")
        for item in items if isinstance(items, list) else ():
            refused = REFUSED_ITEMS.get(str(item.get("type"))) if isinstance(item, dict) else None
            if refused:
                raise ValueError(refused)
        return {k: v for k, v in data.items() if data.get(k) is not None and k not in ("include",)}
