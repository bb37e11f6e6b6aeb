"""The chat path's answer written as the Responses API: ``ResponsesWire``.

A ``Wire`` (``gateway.serving.wire``): the path hands it the completion, or
the stream's pieces in order (``opening``, ``delta``..., ``finish``, ``usage``,
``done``; ``error`` when the stream breaks), and it writes the Responses API's
shapes. The answer's text is one ``message`` output item, each tool call one
``function_call`` item (``call_id`` is the target's tool call id); a
``length`` finish is ``status: incomplete`` (``max_output_tokens``).

The stream's events, each with its ``sequence_number`` from 0:
``response.created``, ``response.in_progress``; for text a ``message`` item
(``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta``..., ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done``); for each tool
call a ``function_call`` item (``response.output_item.added``,
``response.function_call_arguments.delta``...,
``response.function_call_arguments.done``, ``response.output_item.done``);
then ``response.completed`` (or ``response.incomplete``) with the whole
response and its usage. A failure mid-stream is an ``error`` event, then
``response.failed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Completion, Usage
from gateway.apis.responses_wire import ResponsesRequest
from gateway.apis.sse import sse_event
from gateway.errors import GatewayError

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_prompt_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": [part]}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}  # fmt: skip


def response_object(
    request: ResponsesRequest,
    response_id: str,
    created: int,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None = None,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """A ``response`` object: the request's settings echoed, the output so far, the usage once known."""
    incomplete = INCOMPLETE.get(finish_reason or "")
    if incomplete is not None and status == "completed":
        status = "incomplete"
    text_format = request.text.format if request.text is not None else None
    text = {"format": text_format.model_dump(by_alias=True, exclude_none=True) if text_format else {"type": "text"}}
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": incomplete} if status == "incomplete" else None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": request.model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls if request.parallel_tool_calls is not None else True,
        "previous_response_id": None,
        "reasoning": {"effort": request.reasoning.effort if request.reasoning else None, "summary": None},
        "store": False,  # whatever the request said: the gateway keeps nothing
        "temperature": request.temperature,
        "text": text,
        "tool_choice": _tool_choice(request),
        "tools": [t.model_dump(exclude_none=False) for t in request.tools or ()],
        "top_p": request.top_p,
        "truncation": "disabled",
        "metadata": dict(request.metadata or {}),
    }  # fmt: skip
    # The spec types these as an object and a string, not null: present once known, else left out.
    if usage is not None:
        body["usage"] = usage_body(usage)
    if request.user is not None:
        body["user"] = request.user
    return body


def _tool_choice(request: ResponsesRequest) -> Any:
    choice = request.tool_choice
    if choice is None:
        return "auto"
    return choice if isinstance(choice, str) else {"type": "function", "name": choice.name}


@dataclass(slots=True)
class _Item:
    kind: str  # "message" or "function_call"
    id: str
    index: int
    text: list[str] = field(default_factory=list)  # the message's text, or the call's arguments
    call_id: str = ""
    name: str = ""


class ResponsesWire:
    """One request's answer as a ``response`` object, or as its typed events."""

    def __init__(self, request_id: str, request: ResponsesRequest) -> None:
        self._request = request
        self._suffix = request_id
        self._id = f"resp_{request_id}"
        self._created = int(time.time())
        self._sequence = 0
        self._items: list[_Item] = []
        self._done: list[dict[str, Any]] = []
        self._open: _Item | None = None
        self._tools: dict[int, _Item] = {}
        self._finish: str | None = None

    def body(self, completion: Completion) -> dict[str, Any]:
        finish = completion.finish_reason
        output: list[dict[str, Any]] = []
        if completion.content:
            status = "incomplete" if finish in INCOMPLETE else "completed"
            output.append(message_item(f"msg_{self._suffix}", completion.content, status))
        for index, call in enumerate(completion.tool_calls or ()):
            function = call["function"]
            item = function_call_item(f"fc_{self._suffix}_{index}", call["id"], function["name"],
                                      function["arguments"], "completed")  # fmt: skip
            output.append(item)
        return response_object(self._request, self._id, self._created, status="completed", output=output,
                               usage=completion.usage, finish_reason=finish)  # fmt: skip

    # -- the stream ------------------------------------------------------------------

    def opening(self) -> bytes:
        snapshot = response_object(self._request, self._id, self._created, status="in_progress", output=[])
        return self._event("response.created", response=snapshot) + self._event(
            "response.in_progress", response=snapshot
        )

    def delta(self, content: str | None, tool_calls: list[dict[str, Any]] | None) -> bytes:
        events: list[bytes] = []
        if content:
            events += self._text(content)
        for call in tool_calls or ():
            events += self._tool_call(call)
        return b"".join(events)

    def finish(self, reason: str) -> bytes:
        self._finish = reason
        return b"".join(self._close("incomplete" if reason in INCOMPLETE else "completed"))

    def usage(self, usage: Usage) -> bytes:
        final = response_object(self._request, self._id, self._created, status="completed", output=self._done,
                                usage=usage, finish_reason=self._finish)  # fmt: skip
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return self._event(kind, response=final)

    def done(self) -> bytes:
        return b""  # the Responses stream has no terminator of its own

    def error(self, error: GatewayError) -> bytes:
        event = self._event("error", code=error.code, message=error.message, param=error.param)
        failed = response_object(self._request, self._id, self._created, status="failed", output=self._done)
        failed["error"] = {"code": "server_error", "message": error.message}
        return event + self._event("response.failed", response=failed)

    def _event(self, kind: str, **fields: Any) -> bytes:
        body = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return sse_event(kind, body)

    def _begin(self, item: _Item, wire: dict[str, Any]) -> list[bytes]:
        events = self._close("completed")
        self._items.append(item)
        self._open = item
        return [*events, self._event("response.output_item.added", output_index=item.index, item=wire)]

    def _close(self, status: str) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        whole = "".join(item.text)
        if item.kind == "message":
            wire = message_item(item.id, whole, status)
            where = {"item_id": item.id, "output_index": item.index, "content_index": 0}
            events = [
                self._event("response.output_text.done", **where, text=whole, logprobs=[]),
                self._event("response.content_part.done", **where, part=wire["content"][0]),
            ]
        else:
            wire = function_call_item(item.id, item.call_id, item.name, whole, "completed")
            events = [self._event("response.function_call_arguments.done", item_id=item.id, output_index=item.index,
                                  name=item.name, arguments=whole)]  # fmt: skip
        self._done.append(wire)
        return [*events, self._event("response.output_item.done", output_index=item.index, item=wire)]

    def _text(self, text: str) -> list[bytes]:
        events: list[bytes] = []
        item = self._open
        if item is None or item.kind != "message":
            item = _Item("message", f"msg_{self._suffix}_{len(self._items)}", len(self._items))
            wire = {"type": "message", "id": item.id, "status": "in_progress", "role": "assistant", "content": []}
            events = self._begin(item, wire)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(self._event("response.content_part.added", item_id=item.id, output_index=item.index,
                                      content_index=0, part=part))  # fmt: skip
        item.text.append(text)
        events.append(self._event("response.output_text.delta", item_id=item.id, output_index=item.index,
                                  content_index=0, delta=text, logprobs=[]))  # fmt: skip
        return events

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        position = int(call.get("index") or 0)
        function = call.get("function") or {}
        events: list[bytes] = []
        item = self._tools.get(position)
        if item is None:
            call_id = call.get("id") or f"call_{self._suffix}_{position}"
            item = _Item("function_call", f"fc_{self._suffix}_{position}", len(self._items), call_id=call_id,
                         name=function.get("name") or "")  # fmt: skip
            self._tools[position] = item
            events = self._begin(item, function_call_item(item.id, item.call_id, item.name, "", "in_progress"))
        arguments = function.get("arguments")
        if arguments:
            item.text.append(arguments)
            events.append(self._event("response.function_call_arguments.delta", item_id=item.id,
                                      output_index=item.index, delta=arguments))  # fmt: skip
        return events
