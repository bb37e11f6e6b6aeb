"""LangChain's ``ChatOpenAI``, unmodified, against the gateway: invoke, stream, ``bind_tools`` and
``with_structured_output`` on a target that can do tools and JSON schemas (offline: nothing leaves loopback)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tests.clients.conftest import TOOL_CALL
from tests.upstreams.gateway_between import RunningGateway

langchain_openai = pytest.importorskip("langchain_openai", reason="langchain-openai is in requirements-test.lock")


class Rate(BaseModel):
    """An exchange rate."""

    currency: str


def _chat(gw: RunningGateway, model: str = "bank-standard") -> object:
    return langchain_openai.ChatOpenAI(model=model, base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0,
                                       timeout=60)  # fmt: skip


@pytest.mark.parametrize("model", ["bank-standard", "bank-premium"])
def test_invoke_and_stream(gateway: RunningGateway, model: str) -> None:
    chat = _chat(gateway, model)
    assert chat.invoke("What is a basis point?").content == "Hello from upstream"  # type: ignore[attr-defined]
    assert "".join(str(c.content) for c in chat.stream("Say hello.")) == "Hello from upstream"  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", ["bank-standard", "bank-premium"])
def test_bind_tools(gateway: RunningGateway, model: str) -> None:
    upstream = gateway.external if model == "bank-premium" else gateway.onprem
    upstream.set_reply("", tool_calls=[TOOL_CALL])
    message = _chat(gateway, model).bind_tools([Rate]).invoke("Rate for EUR?")  # type: ignore[attr-defined]
    assert message.tool_calls == [{"name": "get_rate", "args": {"currency": "EUR"}, "id": "call_7",
                                   "type": "tool_call"}]  # fmt: skip
    assert upstream.chat_requests[-1].body["tools"][0]["function"]["name"] == "Rate"


def test_with_structured_output(gateway: RunningGateway) -> None:
    gateway.onprem.set_reply('{"currency": "EUR"}')
    result = _chat(gateway).with_structured_output(Rate).invoke("Which currency?")  # type: ignore[attr-defined]
    assert result == Rate(currency="EUR")
    sent = gateway.onprem.chat_requests[-1].body
    assert sent["response_format"]["type"] == "json_schema"
