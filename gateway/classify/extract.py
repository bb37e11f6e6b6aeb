"""Every piece of text an OpenAI chat request carries, for the classifier.

``extract_texts`` walks a Chat Completions request body and returns each text
a model would read, in request order:

- every message of every role (system, developer, user, assistant, tool,
  function): string ``content``, and the ``text`` of ``text`` content parts
  (also ``refusal`` parts);
- a message's ``name``;
- assistant ``tool_calls``: function name and arguments (a JSON string, kept
  as is: the values inside are what matters), and the legacy
  ``function_call`` (name, arguments);
- ``tools`` and legacy ``functions`` definitions: name, description and the
  parameters schema (serialized, it carries descriptions and enum values);
- ``tool_choice`` naming a function, and ``response_format``'s JSON schema.

It also reports whether anything the classifier cannot read is present: any
content part other than text (``image_url``, ``input_audio``, ``file``...),
content of a type it does not know, or an assistant message's ``audio``
reference. The gateway fails closed on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

_TEXT_PARTS = {"text": "text", "refusal": "refusal"}


def extract_texts(request: Mapping[str, Any]) -> tuple[list[str], bool]:
    """``(texts, has_unscannable)`` for an OpenAI chat request (see module docstring)."""
    texts: list[str] = []
    unscannable = False

    def add(value: object) -> None:
        if isinstance(value, str):
            if value:
                texts.append(value)
        elif value is not None:
            texts.append(_serialize(value))

    messages = request.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping):
            unscannable = True
            continue
        add(message.get("name"))
        unscannable |= _add_content(message.get("content"), add)
        unscannable |= message.get("audio") is not None  # a reference to earlier audio
        for call in _as_list(message.get("tool_calls")):
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                add(function.get("name"))
                add(function.get("arguments"))
            elif call is not None:
                add(call)
        legacy_call = message.get("function_call")
        if isinstance(legacy_call, Mapping):
            add(legacy_call.get("name"))
            add(legacy_call.get("arguments"))

    for tool in _as_list(request.get("tools")):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        _add_function_definition(function if isinstance(function, Mapping) else tool, add)
    for function in _as_list(request.get("functions")):
        _add_function_definition(function, add)

    tool_choice = request.get("tool_choice")
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        if isinstance(function, Mapping):
            add(function.get("name"))
    response_format = request.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("json_schema") is not None:
        add(response_format.get("json_schema"))
    return texts, unscannable


def _add_content(content: object, add: Callable[[object], None]) -> bool:
    """Add a message's content; True if some of it cannot be scanned."""
    if content is None:
        return False
    if isinstance(content, str):
        add(content)
        return False
    if not isinstance(content, list):
        add(content)  # unknown shape: scan its serialization, and say so
        return True
    unscannable = False
    for part in content:
        if isinstance(part, str):
            add(part)
            continue
        kind = part.get("type") if isinstance(part, Mapping) else None
        field = _TEXT_PARTS.get(kind) if isinstance(kind, str) else None
        if field is not None and isinstance(part, Mapping):
            add(part.get(field))
        else:
            unscannable = True
    return unscannable


def _add_function_definition(function: object, add: Callable[[object], None]) -> None:
    if not isinstance(function, Mapping):
        if function is not None:
            add(function)
        return
    add(function.get("name"))
    add(function.get("description"))
    if function.get("parameters") is not None:
        add(function.get("parameters"))


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _serialize(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
