"""Anthropic's Messages API translated to and from the chat path.

``parse`` reads a ``/v1/messages`` body into ``MessagesRequest`` (strict, see
``anthropic_wire.py``); ``to_chat`` makes the one ``ChatCompletionRequest`` the
chat path serves; ``anthropic_answer.MessagesWire`` writes the path's answer
as an Anthropic ``message`` or its event stream; ``error_answer`` renders any
gateway error in Anthropic's shape.

The translation, field by field (README, "Anthropic Messages API"):

- ``system`` (a string or text blocks) is the first message, role ``system``;
- text blocks are chat text parts; ``tool_use`` blocks of an assistant turn are
  its ``tool_calls`` (``input`` as the JSON ``arguments``); ``tool_result``
  blocks of a user turn are ``tool`` messages, before the turn's text (chat
  wants them right after the assistant's calls); ``is_error: true`` prefixes
  the result with ``Error:`` (chat has no such flag);
- ``tools`` are function tools (``input_schema`` as ``parameters``);
  ``tool_choice`` ``auto``/``any``/``tool``/``none`` is ``auto``/``required``/the
  named function/``none``, ``disable_parallel_tool_use`` is
  ``parallel_tool_calls: false``;
- ``max_tokens``, ``temperature``, ``top_p`` keep their names,
  ``stop_sequences`` is ``stop``, ``metadata.user_id`` is ``user``;
  ``output_config.effort`` is ``reasoning_effort``, ``output_config.format``
  (a JSON schema) is a ``json_schema`` ``response_format`` named ``output``;
- image blocks (base64 or URL) are chat image parts; PDF documents (base64)
  chat file parts; text documents text parts (``title`` and ``context`` as text
  parts before them). The classifier cannot read images or PDFs: a request
  carrying one is decided at the policy's ``on_error`` level, as on chat.
  Refused (400): Files API ids, documents by URL, citations, media inside a
  ``tool_result`` (a chat tool message carries text only).

"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from gateway.apis.anthropic_wire import (
    Base64Source,
    ContentSource,
    DocumentBlock,
    FileSource,
    ImageBlock,
    MessageParam,
    MessagesRequest,
    TextBlock,
    TextSource,
    ToolResultBlock,
    ToolUseBlock,
    URLSource,
)
from gateway.body import json_object, validated
from gateway.errors import GatewayError, InvalidRequest
from gateway.protocol import ChatCompletionRequest, describe_validation_error, vocabulary_of

VOCABULARY = vocabulary_of(MessagesRequest)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    431: "invalid_request_error",
    503: "overloaded_error",
    504: "timeout_error",
}
"""Anthropic's error ``type`` for each status the gateway answers with; any other is ``api_error``."""


def parse(raw: bytes) -> MessagesRequest:
    """The body as a ``MessagesRequest``, or a 400 that names the position, never the text."""
    return validated(MessagesRequest, json_object(raw), VOCABULARY)


def to_chat(request: MessagesRequest) -> ChatCompletionRequest:
    """The chat request that carries ``request``: what the chat path classifies and sends."""
    messages: list[dict[str, Any]] = []
    if request.system:
        system = request.system if isinstance(request.system, str) else "\n\n".join(b.text for b in request.system)
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(request.messages):
        messages.extend(_chat_messages(message, f"messages.{index}"))
    body: dict[str, Any] = {"model": request.model, "messages": messages, "max_tokens": request.max_tokens}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # message_delta carries the usage
    for name in ("temperature", "top_p"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.stop_sequences:
        body["stop"] = request.stop_sequences
    if request.metadata is not None and request.metadata.user_id is not None:
        body["user"] = request.metadata.user_id
    if request.tools:
        body["tools"] = [
            {"type": "function", "function": _without_none(
                {"name": t.name, "description": t.description, "parameters": t.input_schema, "strict": t.strict})}
            for t in request.tools
        ]  # fmt: skip
    output = request.output_config
    if output is not None and output.effort is not None:
        body["reasoning_effort"] = output.effort
    if output is not None and output.format is not None:
        schema = {"name": "output", "schema": output.format.schema_, "strict": True}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    choice = request.tool_choice
    if choice is not None:
        if choice.type == "tool":
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        else:
            body["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
        if choice.type != "none" and choice.disable_parallel_tool_use:
            body["parallel_tool_calls"] = False
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:  # a limit of the chat path the Messages models do not repeat
        problem, param = describe_validation_error(exc, body)
        raise InvalidRequest(f"The request cannot be served: {problem}", param=param) from None


def _chat_messages(message: MessageParam, where: str) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    texts: list[dict[str, Any]] = []
    tool_results: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for index, block in enumerate(message.content):
        at = f"{where}.content.{index}"
        if isinstance(block, TextBlock):
            texts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock | DocumentBlock):
            if message.role != "user":
                raise InvalidRequest(f"'{block.type}' blocks belong in user messages ({at!r}).", param=at)
            texts.extend(_media_parts(block, at))
        elif isinstance(block, ToolUseBlock):
            if message.role != "assistant":
                raise InvalidRequest(f"'tool_use' blocks belong in assistant messages ({at!r}).", param=at)
            arguments = orjson.dumps(block.input).decode()
            tool_calls.append(
                {"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}}
            )
        else:
            if message.role != "user":
                raise InvalidRequest(f"'tool_result' blocks belong in user messages ({at!r}).", param=at)
            tool_results.append(_tool_message(block, at))
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": "".join(t["text"] for t in texts) or None}
        if tool_calls:
            out["tool_calls"] = tool_calls
        return [out]
    if texts:
        plain = len(texts) == 1 and texts[0]["type"] == "text"
        content: str | list[dict[str, Any]] = texts[0]["text"] if plain else texts
        return [*tool_results, {"role": "user", "content": content}]
    return tool_results


def _media_parts(block: ImageBlock | DocumentBlock, at: str) -> list[dict[str, Any]]:
    """An image or a document as chat content parts: images and PDFs as the chat path's image and file
    parts (which the classifier cannot read: the request is decided at the policy's ``on_error``),
    a text document as text. What has no chat part (a Files API id, a document by URL) is refused."""
    source = block.source
    if isinstance(source, FileSource):
        raise InvalidRequest(f"Files of Anthropic's Files API are not accepted ({at!r}): the gateway has no such "
                             "files. Send the content itself.", param=at)  # fmt: skip
    if isinstance(block, ImageBlock):
        if isinstance(source, URLSource):
            return [{"type": "image_url", "image_url": {"url": source.url}}]
        assert isinstance(source, Base64Source)
        if not source.media_type.startswith("image/"):
            raise InvalidRequest(f"An image's media_type must be an image type ({at!r}).", param=f"{at}.source")
        return [{"type": "image_url", "image_url": {"url": f"data:{source.media_type};base64,{source.data}"}}]
    if block.citations is not None and block.citations.enabled:
        raise InvalidRequest(f"Citations are not supported ({at!r}): the gateway's targets return none.", param=at)
    parts = [{"type": "text", "text": text} for text in (block.title, block.context) if text]
    if isinstance(source, TextSource):
        return [*parts, {"type": "text", "text": source.data}]
    if isinstance(source, ContentSource):
        texts = [source.content] if isinstance(source.content, str) else [b.text for b in source.content]
        return [*parts, *({"type": "text", "text": text} for text in texts)]
    if isinstance(source, Base64Source) and source.media_type == "application/pdf":
        file = {"file_data": f"data:application/pdf;base64,{source.data}", "filename": block.title or "document.pdf"}
        return [*parts, {"type": "file", "file": file}]
    raise InvalidRequest(f"This document is not accepted ({at!r}): send a PDF (base64) or text.", param=at)


def _tool_message(block: ToolResultBlock, at: str) -> dict[str, Any]:
    if isinstance(block.content, list):
        for index, part in enumerate(block.content):
            if not isinstance(part, TextBlock):
                raise _media_refused(part, f"{at}.content.{index}")
        text = "\n\n".join(part.text for part in block.content if isinstance(part, TextBlock))
    else:
        text = block.content or ""
    if block.is_error:
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": text}


def _media_refused(block: ImageBlock | DocumentBlock, at: str) -> InvalidRequest:
    return InvalidRequest(
        f"{block.type.capitalize()} blocks are not accepted in a tool result ({at!r}): a chat tool message "
        "carries text only. Send the text, or the image in the user's content.",
        param=at,
    )


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# -- errors ----------------------------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": sorted({*ERROR_TYPES.values(), "api_error"})},
                "message": {"type": "string"},
            },
        },
        "request_id": {"type": "string"},
    },
    "additionalProperties": False,
}
"""Anthropic's error shape, for ``/openapi.json``."""


def error_body(status: int, message: str, request_id: str | None = None) -> dict[str, Any]:
    """Anthropic's error shape: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def error_answer(error: GatewayError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers of any gateway error, in Anthropic's shape (its statuses kept)."""
    request_id = error.headers.get("x-request-id")
    headers = {**error.headers, **({"request-id": request_id} if request_id else {})}
    return error.status, error_body(error.status, error.message, request_id), headers
