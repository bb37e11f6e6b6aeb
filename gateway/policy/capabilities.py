"""What a target can do, and what a request needs: the decision only considers targets that can serve it.

A target declares its capabilities in the policy (``capabilities:``); what it
leaves out takes its kind's default (``DEFAULTS``): the in-process model does
none of tools, JSON output, images or log probabilities; an OpenAI-compatible
server (vLLM) does tools, JSON output and log probabilities, not images unless
declared (a vision model); a closed API through litellm does all of them.
vLLM's extra parameters (``top_k``, ``guided_json``...) are served by
``openai_compatible`` targets only, whatever is declared.

A request's needs are read from what it sends (``needs_of``): ``tools`` (tools
or legacy functions, unless ``tool_choice`` is ``none``), ``json_schema`` and
``json_object`` (``response_format``), ``images`` (an image part),
``logprobs``, ``vllm_extras``. A target that lacks one is excluded from the
decision with the reason ``capability``; so is one whose declared
``context_tokens`` is below the request's estimated input
(``estimate_input_tokens``: about four characters a token). Capability
filtering only ever removes candidates: it runs after the invariant's check,
never adds a target, never reorders them. When it removes every target the
level and budget permit, the request is one nothing permitted can serve: a 400
that says what it asked for, not a 200 of prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.protocol import OPENAI_COMPATIBLE_ONLY

Need = Literal["tools", "json_schema", "json_object", "images", "logprobs", "vllm_extras"]
NEEDS: tuple[Need, ...] = ("tools", "json_schema", "json_object", "images", "logprobs", "vllm_extras")
_DECLARED = ("tools", "json_schema", "json_object", "images", "logprobs")

DEFAULTS: Mapping[str, Mapping[str, bool]] = {
    "transformers": {"tools": False, "json_schema": False, "json_object": False, "images": False, "logprobs": False},
    "openai_compatible": {"tools": True, "json_schema": True, "json_object": True, "images": False, "logprobs": True},
    "litellm": {"tools": True, "json_schema": True, "json_object": True, "images": True, "logprobs": True},
}
"""Each target kind's capabilities when the policy does not declare them."""

WORDS = {
    "tools": "tool calling",
    "json_schema": "a JSON schema response format",
    "json_object": "JSON mode",
    "images": "image input",
    "logprobs": "log probabilities",
    "vllm_extras": "vLLM's extra parameters",
}


class Capabilities(BaseModel):
    """What a target can do; each field left out takes the default of the target's ``kind``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: bool | None = Field(default=None, description="Tool calling (tools, tool_choice, legacy functions).")
    json_schema: bool | None = Field(default=None, description="response_format of type json_schema.")
    json_object: bool | None = Field(default=None, description="response_format of type json_object (JSON mode).")
    images: bool | None = Field(default=None, description="Image parts in messages (a vision model).")
    logprobs: bool | None = Field(default=None, description="Log probabilities (logprobs, top_logprobs).")
    context_tokens: int | None = Field(
        default=None, ge=1, description="The model's context, in tokens: longer requests go to other targets."
    )


def effective(kind: str, declared: Capabilities | None) -> dict[str, bool]:
    """The target's capabilities: declared ones over its kind's defaults; ``vllm_extras`` by kind only."""
    out = {name: DEFAULTS[kind][name] for name in _DECLARED}
    if declared is not None:
        out.update({name: value for name in _DECLARED if (value := getattr(declared, name)) is not None})
    out["vllm_extras"] = kind == "openai_compatible"
    return out


def missing(kind: str, declared: Capabilities | None, needs: frozenset[str], input_tokens: int) -> list[str]:
    """What of ``needs`` (and the context) a target lacks, in words; empty when it can serve the request."""
    can = effective(kind, declared)
    lacks = [WORDS[need] for need in NEEDS if need in needs and not can[need]]
    context = declared.context_tokens if declared is not None else None
    if context is not None and input_tokens > context:
        lacks.append(f"about {input_tokens} input tokens (its context is {context})")
    return lacks


def needs_of(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> frozenset[str]:
    """What a request asks of a target, read from what it sends (``Outbound``: messages and parameters)."""
    needs: set[str] = set()
    if params.get("tools") and params.get("tool_choice") != "none":
        needs.add("tools")
    response_format = params.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind in ("json_schema", "json_object"):
        needs.add(kind)
    if params.get("logprobs") or params.get("top_logprobs"):
        needs.add("logprobs")
    if OPENAI_COMPATIBLE_ONLY & params.keys():
        needs.add("vllm_extras")
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and any(isinstance(p, Mapping) and p.get("type") == "image_url" for p in content):
            needs.add("images")
            break
    return frozenset(needs)


def unserved_message(needs: frozenset[str]) -> str:
    """The 400's message: what the request asks that no permitted target can do (no target named)."""
    asked = ", ".join(WORDS[n] for n in NEEDS if n in needs) or "a longer context"
    return (
        f"No target this request may be sent to can serve it: it asks for {asked}. "
        "Send it without that, or use a model whose targets can."
    )
