"""spaCy's NER component against the gateway's compiled evaluator (gateway/classify/fastner.py).

``python bench/ner_compiled.py [--prompts 300] [--rounds 4]``: the benchmark's ~30-word prompts
(bench/overhead/prompts.py), each new, analysed alone and in batches of 16 by both, alternating
in one process; thread CPU time per prompt (less sensitive than wall time to a busy machine),
and whether every entity is the same. Pin it to a core (``taskset -c 1``) for steadier figures.

``--memory N``: then N more unique prompts through the classifier's NER pass
(``DetectionEngine.ner_pass``, in its memory zone), with the process's RSS and the size of
spaCy's string store every quarter: whether memory follows the traffic.

``--unseen N``: N million words the model never saw, 400 to a text, through the NER pass,
the heap frozen as in the server (``gc.freeze``), with RSS and the pipeline renewals
(``DetectionEngine``) every tenth: whether spaCy's hash tables, which keep a cell for every
word a memory zone freed, stay bounded. ``--renew-after 0`` turns renewal off, to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.overhead.prompts import prompt_stems, unique
from gateway.classify.fastner import CompiledNer, limit_blas_threads
from gateway.classify.nlp import keep_vocabulary, load_ner_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--model", default="en_core_web_sm")
    parser.add_argument("--memory", type=int, default=0, help="unique prompts for the memory check")
    parser.add_argument("--unseen", type=float, default=0, help="millions of unseen words for the renewal check")
    parser.add_argument("--renew-after", type=int, default=None, help="DetectionEngine.renew_after (0: never)")
    args = parser.parse_args()
    if args.prompts > 0:
        _compare(args)
    if args.memory:
        _memory(args.memory)
    if args.unseen:
        _unseen(int(args.unseen * 1_000_000), args.renew_after)


def _compare(args: argparse.Namespace) -> None:
    limit_blas_threads()
    nlp = load_ner_pipeline(args.model)
    keep_vocabulary(nlp)
    compiled = CompiledNer(nlp.get_pipe("ner"))
    texts = [unique(stem, n) for n, stem in enumerate(prompt_stems(args.prompts))]

    def spacy_run(batch: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return [_entities(doc) for doc in nlp.pipe(batch, batch_size=len(batch))]

    def compiled_run(batch: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        docs = [nlp.make_doc(text) for text in batch]
        compiled(docs)
        return [_entities(doc) for doc in docs]

    same = all(_over(spacy_run, texts, size) == _over(compiled_run, texts, size) for size in (1, 16))
    print(f"{len(texts)} prompts, entities the same in both: {same}")
    for size in (1, 16):
        figures: dict[str, list[float]] = {"spaCy": [], "compiled": []}
        for _ in range(args.rounds):
            for name, run in (("spaCy", spacy_run), ("compiled", compiled_run)):
                started = time.thread_time()
                _over(run, texts, size)
                figures[name].append((time.thread_time() - started) / len(texts) * 1000)
        line = ", ".join(
            f"{name} {statistics.median(values):.2f} ms ({min(values):.2f}-{max(values):.2f})"
            for name, values in figures.items()
        )
        print(f"batches of {size:>2}: CPU per prompt, median of {args.rounds} rounds: {line}")


def _memory(count: int) -> None:
    from gateway.classify.engine import DetectionEngine

    engine = DetectionEngine()
    strings = engine.nlp_engine.get_nlp("en").vocab.strings
    stems = prompt_stems(2000)
    print(f"memory: RSS {_rss_mib():.1f} MiB, {len(strings):,} strings, before {count:,} unique prompts")
    for n in range(count):
        engine.ner_pass(unique(stems[n % len(stems)], 1_000_000 + n), 0.0)
        if (n + 1) % max(count // 4, 1) == 0:
            print(f"memory: RSS {_rss_mib():.1f} MiB, {len(strings):,} strings, after {n + 1:,}")


def _unseen(words: int, renew_after: int | None) -> None:
    import gc

    from gateway.classify.engine import RENEW_AFTER_UNSEEN, DetectionEngine

    limit = RENEW_AFTER_UNSEEN if renew_after is None else (renew_after or 2**62)
    engine = DetectionEngine(renew_after=limit)
    gc.freeze()
    print(f"unseen: RSS {_rss_mib():.1f} MiB before {words:,} unseen words (renewal after {limit:,} strings)")
    per_text, sent, report = 400, 0, max(words // 10, 1)
    while sent < words:
        engine.ner_pass(" ".join(f"zq{sent + i}x" for i in range(per_text)), 0.0)
        sent += per_text
        if sent % report < per_text:
            print(f"unseen: RSS {_rss_mib():.1f} MiB after {sent:,} words, {engine.renewals} renewals", flush=True)


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def _entities(doc) -> list[tuple[int, int, str]]:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def _over(run: Callable[[Sequence[str]], list], texts: Sequence[str], size: int) -> list:  # type: ignore[type-arg]
    out: list = []  # type: ignore[type-arg]
    for start in range(0, len(texts), size):
        out += run(texts[start : start + size])
    return out


if __name__ == "__main__":
    main()
