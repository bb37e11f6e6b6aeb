"""What is sent is what was classified: no field carries a card number out unread.

A running gateway (uvicorn on loopback, the real classifier) routes requests
at ``internal`` to an external upstream and anything above to an on-prem one;
the external upstream is a real loopback OpenAI server, reached once through
an ``openai_compatible`` target and once through ``litellm``. A Luhn-valid
card number is placed in every field that once went out unread (``stop``,
``user``, ``logit_bias`` keys, ``refusal``, ``tool_call_id``, tool-call ids,
unknown keys in content parts, tool functions, ``tool_choice``,
``response_format``, other tool types, ``prompt_cache_key``, ``safety_identifier``,
vLLM's extras, legacy ``functions``), streaming and not; then a property
test puts it at a random place of thousands of random (or almost valid)
requests. Each answer must be a refusal (400), or on-prem, or leave the
external upstream without the card in anything it received.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.classify.engine import DetectionEngine
from tests.upstreams.gateway_between import RunningGateway, gateway_between

CARD = "4539 1488 0343 6467"
TRACES = ("4539148803436467", "4539 1488 0343 6467", "0343 6467", "03436467")

POLICY = """
version: 1
name: what-is-sent
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: m-onprem
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
  ext-compat:
    kind: openai_compatible
    api_base: {external}
    model: m-external
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
  ext-litellm:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {external}
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
models:
  compat: {{tier: compat}}
  lite: {{tier: lite}}
routes:
  - name: above-internal-stays-on-prem
    when: {{level_at_least: confidential}}
    targets: [onprem]
  - name: compat
    when: {{tier: compat}}
    targets: [ext-compat]
  - name: lite
    targets: [ext-litellm]
"""

ORDER_SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}}}
TOOL = {"type": "function",
        "function": {"name": "lookup", "description": "Look up an order.", "parameters": ORDER_SCHEMA}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"order": 1}'}}


def _base() -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "What is the status of order A-17?"}]}


def _probe(edit: Any) -> dict[str, Any]:
    body = _base()
    edit(body)
    return body


PROBES: dict[str, dict[str, Any]] = {
    "stop": _probe(lambda b: b.update(stop=["END", CARD])),
    "stop-string": _probe(lambda b: b.update(stop=CARD)),
    "user": _probe(lambda b: b.update(user=f"customer {CARD}")),
    "logit_bias-key": _probe(lambda b: b.update(logit_bias={CARD.replace(" ", ""): 1})),
    "seed": _probe(lambda b: b.update(seed=int(CARD.replace(" ", "")))),
    "assistant-refusal": _probe(lambda b: b["messages"].insert(0, {"role": "assistant", "content": None,
                                                                   "refusal": f"Not card {CARD}"})),
    "tool-call-id": _probe(lambda b: b.update(messages=[
        b["messages"][0], {"role": "assistant", "tool_calls": [{**CALL, "id": f"call {CARD}"}]},
        {"role": "tool", "tool_call_id": f"call {CARD}", "content": "shipped"}])),
    "tool-message-id": _probe(lambda b: b.update(messages=[
        b["messages"][0], {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": CARD, "content": "shipped"}])),
    "content-part-extra-key": _probe(lambda b: b.update(messages=[
        {"role": "user", "content": [{"type": "text", "text": "hello", "note": CARD}]}])),
    "content-part-extra-key-as-key": _probe(lambda b: b.update(messages=[
        {"role": "user", "content": [{"type": "text", "text": "hello", CARD: "x"}]}])),
    "tool-function-extra-key": _probe(lambda b: b.update(tools=[
        {"type": "function", "function": {**TOOL["function"], "note": CARD}}])),
    "tool-extra-key": _probe(lambda b: b.update(tools=[{**TOOL, "note": CARD}])),
    "tool-schema-property": _probe(lambda b: b.update(tools=[{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object", "properties": {CARD: {"type": "string"}}}}}])),
    "tool-schema-enum": _probe(lambda b: b.update(tools=[{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object", "properties": {"c": {"enum": [CARD]}}}}}])),
    "tool-choice-extra-key": _probe(lambda b: b.update(tools=[TOOL], tool_choice={
        "type": "function", "function": {"name": "lookup"}, "note": CARD})),
    "tool-choice-string": _probe(lambda b: b.update(tools=[TOOL], tool_choice=CARD)),
    "response-format-extra-key": _probe(lambda b: b.update(response_format={"type": "json_object", "note": CARD})),
    "response-format-schema": _probe(lambda b: b.update(response_format={"type": "json_schema", "json_schema": {
        "name": "out", "schema": {"type": "object", "properties": {"card": {"const": CARD}}}}})),
    "other-tool-type": _probe(lambda b: b.update(tools=[{"type": "custom", "custom": {"name": "x",
                                                                                       "description": CARD}}])),
    "message-name": _probe(lambda b: b["messages"][0].update(name=CARD.replace(" ", "_"))),
    "metadata": _probe(lambda b: b.update(metadata={"ticket": CARD})),
    "prompt_cache_key": _probe(lambda b: b.update(prompt_cache_key=f"cache {CARD}")),
    "safety_identifier": _probe(lambda b: b.update(safety_identifier=CARD)),
    "vllm-guided_json": _probe(lambda b: b.update(guided_json={"type": "object", "properties": {
        "card": {"const": CARD}}})),
    "vllm-guided_choice": _probe(lambda b: b.update(guided_choice=["no", CARD])),
    "vllm-chat_template_kwargs": _probe(lambda b: b.update(chat_template_kwargs={"customer": CARD})),
    "legacy-functions": _probe(lambda b: b.update(functions=[{"name": "lookup", "description": f"Card {CARD}",
                                                                "parameters": ORDER_SCHEMA}])),
    "legacy-functions-schema": _probe(lambda b: b.update(functions=[{"name": "lookup", "parameters": {
        "type": "object", "properties": {CARD: {"type": "string"}}}}], function_call="auto")),
    "tool-call-arguments": _probe(lambda b: b.update(messages=[b["messages"][0], {"role": "assistant", "tool_calls": [
        {**CALL, "function": {"name": "lookup", "arguments": orjson.dumps({"card": CARD}).decode()}}]}])),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("what-is-sent"), POLICY, engine=detection_engine) as gw:
        yield gw


def _send(gw: RunningGateway, body: Any, model: str, stream: bool) -> httpx.Response:
    return gw.chat({**body, "model": model, "stream": stream})


def _leaked(gw: RunningGateway) -> list[str]:
    """What of the card the external upstream received, in any request it got."""
    seen = gw.external_received()
    digits = "".join(ch for ch in seen if ch.isdigit())
    return [t for t in TRACES if t in seen] + (["digits"] if TRACES[0] in digits else [])


def _check(gw: RunningGateway, response: httpx.Response) -> str:
    """The request was refused, kept on-prem, or sent out without the card; which one."""
    assert response.status_code < 500, response.text
    assert not _leaked(gw), f"the external upstream received the card: {_leaked(gw)}"
    if response.status_code == 400:
        assert not any(t in response.text for t in TRACES), "the error repeats the request's content"
        return "refused"
    if response.status_code == 200:
        return response.headers["x-gateway-residency"]
    return f"status {response.status_code}"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model", ["compat", "lite"])
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_card_in_any_field_never_reaches_the_external_upstream(
    gateway: RunningGateway, probe: str, model: str, stream: bool
) -> None:
    gateway.external.reset()
    response = _send(gateway, copy.deepcopy(PROBES[probe]), model, stream)
    outcome = _check(gateway, response)
    if outcome == "external" or outcome.startswith("on_prem"):
        assert response.headers["x-gateway-level"] in ("restricted", "internal")
    if outcome == "external":  # only a field that is dropped, never sent, may go out at internal
        assert probe == "metadata", f"{probe}: went external"
    if outcome == "on_prem":
        assert response.headers["x-gateway-level"] == "restricted"


def test_a_clean_request_with_every_field_goes_out(gateway: RunningGateway) -> None:
    """The control: the same fields without the card go to the external target, sent as given."""
    gateway.external.reset()
    body = {**_base(), "stop": ["END"], "user": "u-1", "logit_bias": {"50256": -5}, "seed": 7, "tools": [TOOL],
            "tool_choice": "auto", "response_format": {"type": "json_object"}, "prompt_cache_key": "pk-1",
            "safety_identifier": "sid-1", "guided_choice": ["yes", "no"], "top_k": 5}
    response = _send(gateway, body, "compat", False)
    assert response.status_code == 200 and response.headers["x-gateway-residency"] == "external"
    sent = gateway.external.chat_requests[-1].body
    for name in ("stop", "user", "logit_bias", "seed", "tools", "tool_choice", "response_format", "prompt_cache_key",
                 "safety_identifier", "guided_choice", "top_k"):
        assert sent[name] == body[name], name


# -- the property test -----------------------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_name = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
_message = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user"]), "content": _text},
                          optional={"name": _text}),
    st.fixed_dictionaries({"role": st.just("user"), "content": st.lists(
        st.fixed_dictionaries({"type": st.just("text"), "text": _text}), min_size=1, max_size=2)}),
    st.fixed_dictionaries({"role": st.just("assistant")}, optional={
        "content": _text, "refusal": _text,
        "tool_calls": st.lists(st.fixed_dictionaries({"id": _text, "type": st.just("function"), "function":
                               st.fixed_dictionaries({"name": _name, "arguments": _text})}), min_size=1, max_size=2)}),
    st.fixed_dictionaries({"role": st.just("tool"), "tool_call_id": _text, "content": _text}),
)
_function = st.fixed_dictionaries(
    {"name": _name}, optional={"description": _text, "parameters": st.dictionaries(_text, _json, max_size=3)}
)
_request = st.fixed_dictionaries(
    {"messages": st.lists(_message, min_size=1, max_size=3)},
    optional={
        "stop": st.one_of(_text, st.lists(_text, max_size=4)),
        "user": _text,
        "seed": st.integers(0, 10**6),
        "temperature": st.floats(0, 2),
        "logit_bias": st.dictionaries(st.from_regex(r"[0-9]{1,5}", fullmatch=True), st.integers(-100, 100),
                                      max_size=2),
        "metadata": st.dictionaries(_name, _text, max_size=2),
        "prompt_cache_key": _text,
        "safety_identifier": _text,
        "tools": st.lists(st.fixed_dictionaries({"type": st.just("function"), "function": _function}),
                          min_size=1, max_size=2),
        "tool_choice": st.one_of(st.sampled_from(["none", "auto", "required"]),
                                 st.builds(lambda n: {"type": "function", "function": {"name": n}}, _name)),
        "response_format": st.one_of(
            st.just({"type": "text"}), st.just({"type": "json_object"}),
            st.builds(lambda n, s: {"type": "json_schema", "json_schema": {"name": n, "schema": s}},
                      _name, st.dictionaries(_text, _json, max_size=3))),
    },
)


def _places(node: Any) -> list[tuple[Any, Any]]:
    """Every place a string can be put: (container, key or index), dicts and lists at every depth."""
    found: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        found.append((node, None))
        for key, value in node.items():
            if isinstance(value, str):
                found.append((node, key))
            found += _places(value)
    elif isinstance(node, list):
        found.append((node, None))
        for i, value in enumerate(node):
            if isinstance(value, str):
                found.append((node, i))
            found += _places(value)
    return found


def _plant(body: dict[str, Any], choice: int, how: int) -> None:
    """The card at one place: most often in a string (replacing it, or inside it); else, making the
    request almost valid, as a new key of an object or a new item of a list."""
    places = _places(body)
    strings = [(container, slot) for container, slot in places if slot is not None]
    if how < 3 and strings:
        container, slot = strings[choice % len(strings)]
        container[slot] = CARD if how == 1 else f"{container[slot]} card {CARD} ok"
        return
    container, _ = places[choice % len(places)]
    if isinstance(container, dict):
        container[CARD if choice % 2 else f"k{how}"] = "x" if choice % 2 else CARD
    else:
        container.append(CARD)


def test_a_card_at_a_random_place_of_a_random_request_never_leaves(gateway: RunningGateway) -> None:
    """2,000 random requests, each with the card planted at a random place; every kind of outcome occurs."""
    outcomes: Counter[str] = Counter()

    @settings(max_examples=2000, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=_request, choice=st.integers(0, 10_000), how=st.integers(0, 3),
           model=st.sampled_from(["compat", "lite"]), stream=st.booleans())
    def planted(body: dict[str, Any], choice: int, how: int, model: str, stream: bool) -> None:
        _plant(body, choice, how)
        gateway.external.reset()
        outcomes[_check(gateway, _send(gateway, body, model, stream))] += 1

    planted()
    print(f"outcomes of {outcomes.total()} planted requests: {dict(outcomes)}")
    # The test can fail: many requests reached the external upstream (the card was in a field that is
    # dropped, never sent), many were kept on-prem, many refused.
    assert outcomes["external"] >= 10 and outcomes["on_prem"] >= 500 and outcomes["refused"] >= 100, outcomes


def test_an_unknown_key_is_named_by_its_position_never_its_text(gateway: RunningGateway) -> None:
    body = {"messages": [{"role": "user", "content": "hi", f"Jane Doe {CARD}": 1}]}
    response = _send(gateway, body, "compat", False)
    error = response.json()["error"]
    assert response.status_code == 400 and error["type"] == "invalid_request_error"
    assert error["message"].startswith("Unknown field 'messages.0.<key 2>'") and error["param"] == "messages.0.<key 2>"
    assert "Jane" not in response.text and not any(t in response.text for t in TRACES)
