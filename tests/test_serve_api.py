"""Another API's front door on the same path (``ChatService.serve``, ``gateway/serving/__init__.py``):
a validated request, an ``api`` label and a ``Wire`` in; the answer in that wire's shape, the same
headers, and one record per request that carries the label (ledger, audit, metrics, spans read it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AnswerExtras, Completion, Usage
from gateway.app import create_app
from gateway.config import Config
from gateway.errors import GatewayError, ModelNotFound
from gateway.policy.model import Target
from gateway.protocol import ChatCompletionRequest
from gateway.record import RequestRecord
from tests.fakes import KeywordClassifier, ScriptedAdapter

POLICY = Path(__file__).parent / "data" / "routing.yaml"


class ShoutWire:
    """A made-up API: its body is ``{"said": ...}``, its stream one line per piece and ``END``."""

    def __init__(self, request_id: str, request: ChatCompletionRequest) -> None:
        self.request_id = request_id

    def body(self, completion: Completion) -> dict[str, Any]:
        return {"said": (completion.content or "").upper(), "id": self.request_id}

    def opening(self) -> bytes:
        return b"BEGIN\n"

    def delta(
        self, content: str | None, tool_calls: list[dict[str, Any]] | None, extras: AnswerExtras | None = None
    ) -> bytes:
        return (content or "").upper().encode() + b"\n"

    def finish(self, reason: str) -> bytes:
        return f"FINISH {reason}\n".encode()

    def usage(self, usage: Usage) -> bytes:
        return f"USAGE {usage.total_tokens}\n".encode()

    def done(self) -> bytes:
        return b"END\n"

    def error(self, error: GatewayError) -> bytes:
        return f"ERROR {error.code}\n".encode()


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, Any, list[Any]]]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")

    def factory(name: str, target: Target) -> ScriptedAdapter:
        return ScriptedAdapter(name, f"Answer from {name}.")

    config = Config(policy=str(POLICY), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)  # fmt: skip
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    async with app.router.lifespan_context(app):
        state = app.state.gateway
        _, key = state.keys.create("payments", ["user"])
        records: list[RequestRecord] = []
        state.chat.services.observers += (records.append,)
        yield state, state.keys.authenticate(key), records


def _request(model: str = "bank-standard", **extra: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest(model=model, messages=[{"role": "user", "content": "Hello"}], **extra)


async def test_the_answer_is_in_the_wire_s_shape_with_the_path_s_headers(served: Any) -> None:
    state, caller, records = served
    outcome = await state.chat.serve(_request(), caller, api="responses", wire=ShoutWire, request_id="r-1")
    assert outcome.body == {"said": "ANSWER FROM ONPREM.", "id": "r-1"}
    assert outcome.headers["x-request-id"] == "r-1" and outcome.headers["x-gateway-target"] == "onprem"
    [record] = records
    assert (record.asked.api, record.asked.request_id, record.outcome, record.target) == (
        "responses", "r-1", "ok", "onprem"
    )  # fmt: skip
    await state.ledger.flush()
    assert [row["request_id"] for row in state.db.ledger_rows()] == ["r-1"]


async def test_a_stream_is_written_by_the_wire_and_recorded_once_at_its_end(served: Any) -> None:
    state, caller, records = served
    outcome = await state.chat.serve(_request(stream=True), caller, api="messages", wire=ShoutWire)
    assert records == []  # the record is finished when the stream ends
    lines = b"".join([line async for line in outcome.stream]).decode().splitlines()
    assert lines[0] == "BEGIN" and lines[-1] == "END" and "FINISH stop" in lines
    assert "".join(lines[1:-3]) == "ANSWER FROM ONPREM."
    [record] = records
    assert record.asked.api == "messages" and record.asked.stream and record.outcome == "ok"
    assert record.charge is not None and record.prompt_tokens > 0


async def test_errors_are_gateway_errors_for_the_front_door_to_render(served: Any) -> None:
    state, caller, records = served
    with pytest.raises(ModelNotFound) as refused:
        await state.chat.serve(_request(model="no-such-model"), caller, api="responses", wire=ShoutWire)
    assert refused.value.headers["x-request-id"] and records == []  # refused before a decision: no record
