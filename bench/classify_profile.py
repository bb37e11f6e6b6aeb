"""Where the classify stage's time goes on bench/overhead's prompts: each pass timed, then profiled.

The prompts are ``bench/overhead``'s (~30 words, every one new), classified as the
gateway does under ``bench/overhead/policies/full-classification.yaml``: the
pattern pass (with the policy's recognizers and entity types), then the NER pass.
Prints the mean milliseconds of each part per prompt, then the top functions by
cumulative time (cProfile) of the whole classification.
Usage: ``python bench/classify_profile.py [--prompts N] [--top N]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.overhead.prompts import prompt_stems, unique
from gateway.classify.engine import DetectionEngine
from gateway.classify.normalize import normalize
from gateway.classify.policy_recognizers import PolicyRecognizerCompiler
from gateway.policy.explain import recognizers_of
from gateway.policy.loader import load_file

POLICY = Path(__file__).parent / "overhead" / "policies" / "full-classification.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=600)
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    loaded = load_file(POLICY)
    minimum = loaded.policy.classification.min_score
    recognizers = PolicyRecognizerCompiler().compile(tuple(recognizers_of(loaded.policy)))
    engine = DetectionEngine()
    stems = prompt_stems(200)
    texts = [unique(stems[n % len(stems)], n + 10_000) for n in range(args.prompts)]
    for text in texts[:50]:  # warm
        engine.pattern_pass(normalize(text).text, recognizers, minimum, loaded.detects)
        engine.ner_passes([text], [minimum], [loaded.detects])
    parts = {"normalize": 0.0, "pattern pass": 0.0, "language segments": 0.0, "NER pass": 0.0}
    for text in texts:
        t0 = time.thread_time()
        view = normalize(text).text
        t1 = time.thread_time()
        engine.pattern_pass(view, recognizers, minimum, loaded.detects)
        t2 = time.thread_time()
        engine.languages.segments(view)
        t3 = time.thread_time()
        engine.ner_passes([view], [minimum], [loaded.detects])
        t4 = time.thread_time()
        for name, spent in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            parts[name] += spent
    print(f"{len(texts)} prompts, mean thread CPU ms per prompt:")
    for name, spent in parts.items():
        note = "  (inside the NER pass too)" if "lang" in name else ""
        print(f"  {name:<18} {spent / len(texts) * 1000:.3f}{note}")
    profile = cProfile.Profile(time.thread_time)  # CPU of this thread: other processes do not count
    profile.enable()
    for text in texts:
        view = normalize(text).text
        engine.pattern_pass(view, recognizers, minimum, loaded.detects)
        engine.ner_passes([view], [minimum], [loaded.detects])
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
