"""OpenAI's Responses API translated to and from the chat path.

``parse`` reads a ``/v1/responses`` body into ``ResponsesRequest`` (strict, see
``responses_wire.py``); ``to_chat`` makes the one ``ChatCompletionRequest`` the
chat path serves; ``responses_answer.ResponsesWire`` writes the path's answer
as a ``response`` object or its typed events. Errors keep OpenAI's shape (the
chat path's renderer).

The translation, field by field (README, "OpenAI Responses API"):

- ``instructions`` is the first message, role ``system``; ``input`` as a string
  is one user message; message items keep their role (``input_text`` parts are
  text parts; an assistant's ``output_text`` is its content, ``refusal`` its
  refusal); ``function_call`` items are the ``tool_calls`` of the assistant
  message before them; ``function_call_output`` items are ``tool`` messages;
- function ``tools`` and ``tool_choice`` keep their meaning in chat's shape;
  ``max_output_tokens`` is ``max_tokens``; ``text.format`` is
  ``response_format``; ``reasoning.effort`` is ``reasoning_effort``;
  ``temperature``, ``top_p``, ``parallel_tool_calls``, ``user`` keep their names;
- ``metadata`` is echoed in the response and, as for chat, never sent on;
  ``store`` is answered as false: nothing is kept;
- ``input_image`` (a URL or a data URL) and ``input_file`` (``file_data``) parts
  are the chat path's image and file parts: the classifier cannot read them, so
  a request carrying one is decided at the policy's ``on_error`` level, as on
  chat. Stored files (``file_id``, ``file_url``) and media in a function call's
  output are refused (400).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from gateway.apis.responses_wire import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputMedia,
    InputText,
    MessageItem,
    OutputText,
    ResponsesRequest,
)
from gateway.body import json_object, validated
from gateway.errors import InvalidRequest
from gateway.protocol import ChatCompletionRequest, describe_validation_error, vocabulary_of

VOCABULARY = vocabulary_of(ResponsesRequest)


def parse(raw: bytes) -> ResponsesRequest:
    """The body as a ``ResponsesRequest``, or a 400 that names the position, never the text."""
    return validated(ResponsesRequest, json_object(raw), VOCABULARY)


def to_chat(request: ResponsesRequest) -> ChatCompletionRequest:
    """The chat request that carries ``request``: what the chat path classifies and sends."""
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
    else:
        for index, item in enumerate(request.input):
            _add_item(messages, item, f"input.{index}")
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # response.completed carries the usage
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    for name in ("temperature", "top_p", "parallel_tool_calls", "user"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.reasoning is not None and request.reasoning.effort is not None:
        body["reasoning_effort"] = request.reasoning.effort
    if request.tools:
        body["tools"] = [{"type": "function", "function": t.model_dump(exclude={"type"}, exclude_none=True)}
                         for t in request.tools]  # fmt: skip
    choice = request.tool_choice
    if choice is not None:
        body["tool_choice"] = (
            choice if isinstance(choice, str) else {"type": "function", "function": {"name": choice.name}}
        )
    text_format = request.text.format if request.text is not None else None
    if text_format is not None and text_format.type == "json_schema":
        schema = text_format.model_dump(exclude={"type"}, exclude_none=True, by_alias=True)
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif text_format is not None and text_format.type == "json_object":
        body["response_format"] = {"type": "json_object"}
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:  # a limit of the chat path the Responses models do not repeat
        message, param = describe_validation_error(exc, body)
        raise InvalidRequest(f"The request cannot be served: {message}", param=param) from None


def _add_item(messages: list[dict[str, Any]], item: Any, at: str) -> None:
    if isinstance(item, FunctionCallItem):
        call = {"id": item.call_id, "type": "function", "function": {"name": item.name, "arguments": item.arguments}}
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)  # the calls of the turn whose text came before
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif isinstance(item, FunctionCallOutputItem):
        output = item.output if isinstance(item.output, str) else _texts(item.output, f"{at}.output")
        messages.append({"role": "tool", "tool_call_id": item.call_id, "content": output})
    else:
        assert isinstance(item, MessageItem)
        messages.append(_message(item, at))


def _message(item: MessageItem, at: str) -> dict[str, Any]:
    if isinstance(item.content, str):
        return {"role": item.role, "content": item.content}
    if item.role == "assistant":
        text = "".join(p.text for p in item.content if isinstance(p, OutputText | InputText))
        refusal = "".join(getattr(p, "refusal", "") for p in item.content)
        out: dict[str, Any] = {"role": "assistant", "content": text or None}
        if refusal:
            out["refusal"] = refusal
        return out
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(item.content):
        if isinstance(part, InputMedia):
            parts.append(_media_part(part, f"{at}.content.{index}"))
            continue
        if not isinstance(part, InputText):
            where = f"{at}.content.{index}"
            raise InvalidRequest(f"Only 'input_text' parts are accepted in a {item.role} message ({where!r}).",
                                 param=where)  # fmt: skip
        parts.append({"type": "text", "text": part.text})
    plain = len(parts) == 1 and parts[0]["type"] == "text"
    return {"role": item.role, "content": parts[0]["text"] if plain else parts}


def _media_part(part: InputMedia, at: str) -> dict[str, Any]:
    """An image or a file as the chat path's image or file part (which the classifier cannot read: the
    request is decided at the policy's ``on_error``). Stored files (``file_id``, ``file_url``) are refused."""
    if part.type == "input_image" and part.image_url and not part.file_id:
        return {"type": "image_url", "image_url": _without_none({"url": part.image_url, "detail": part.detail})}
    if part.type == "input_file" and part.file_data and not (part.file_id or part.file_url):
        return {"type": "file", "file": _without_none({"file_data": part.file_data, "filename": part.filename})}
    raise InvalidRequest(
        f"This {'image' if part.type == 'input_image' else 'file'} is not accepted ({at!r}): the gateway keeps "
        "no files; send it inline ('image_url' or 'file_data').",
        param=at,
    )


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _texts(parts: Sequence[InputText | InputMedia], at: str) -> str:
    for index, part in enumerate(parts):
        if isinstance(part, InputMedia):
            raise _media_refused(part, f"{at}.{index}")
    return "".join(part.text for part in parts if isinstance(part, InputText))


def _media_refused(part: InputMedia, at: str) -> InvalidRequest:
    kind = "Image" if part.type == "input_image" else "File"
    return InvalidRequest(
        f"{kind} inputs are not accepted in a function call's output ({at!r}): a chat tool message carries "
        "text only. Send the text instead.",
        param=at,
    )
