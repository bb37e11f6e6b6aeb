"""The recognizers' shortcuts (a pattern is skipped when a necessary condition fails) change
no result: over the generated evaluation corpus, in every language it holds, and edge cases,
each recognizer finds exactly what all of its patterns, run unconditionally, find."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from gateway.classify.recognizers import address, full_name, payment, person, structured
from gateway.classify.script import has_han
from tests.classify.conftest import load_bench_module

EDGE_CASES = [
    "",
    "12 Baker Street, London NW1 6XE",
    "Flat 3, 221B Baker Street\nMarylebone\nLondon\nNW1 6XE",
    "Hauptstraße 5, 10115 Berlin",
    "Lindenweg 12a / 3, 80331 München",
    "12, rue de la Paix, 75002 Paris",
    "place Vendôme, 75001 Paris",
    "客户王秀英住在北京市朝阳区建国路88号",
    "欧阳娜娜女士来电",
    "持卡人：张伟，卡号6222 0212 3456 7890",
    "card 4111 1111 1111 1111 and 4111-1111-1111-1111-123",
    "digits 1234 5678 9012 are twelve, 12345678901 are eleven",
    "PSC 7918, Box 7253, APO AE 59232",
    "山田太郎様、Mr. Smith様の件です",
    "Клиент Иван Петров и госпожа Смирнова",
    "고객 김민수님께",
    "Sehr geehrte Frau Weißgerber,\nanbei der Auszug.\nMit freundlichen Grüßen\nJürgen Obermaier",
    "Via Garibaldi, 12, 10122, Torino (TO); Calle de Alcalá 48, 28014 Madrid; Keizersgracht 123, 1015 CJ Amsterdam",
    "東京都千代田区丸の内1丁目1番1号",
    'Rows:\n"VANDERBEEK, Annelies";1200\nname,iban\nJohn Smith,DE89\n{"account_holder": "Ana Ruiz"}',
    "customer jan krčmář asked; client 千代 佐藤 too",
    "Hallo Anna,\nmy name is Liva. Kuyra, can you call P. Jansen and Margrethe Sørensen?",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    evaluation = load_bench_module("classify_eval")
    generated = evaluation.load_corpus_module().generate_corpus(seed=11, size=600)
    return [text for sample in generated for text in sample.texts] + EDGE_CASES


def _every_pattern(patterns: Sequence[tuple[Any, ...]], text: str) -> Iterator[tuple[int, int, float]]:
    for pattern, score, *_ in patterns:
        for match in pattern.finditer(text):
            yield match.start(), match.end(), score


def test_the_corpus_exercises_every_shortcut(texts: list[str]) -> None:
    assert sum(has_han(text) for text in texts) > 50
    assert sum(not has_han(text) for text in texts) > 50
    for _, _, condition in address._PATTERNS:
        if condition not in (address._always, has_han):
            hits = sum(condition(text) for text in texts)
            assert 0 < hits < len(texts), condition


@pytest.mark.parametrize(
    ("recognizer", "patterns", "fewest"),
    [
        (address.StreetAddressRecognizer(), address._PATTERNS, 50),
        (person.PersonNameRecognizer(), (), 100),
        (structured.StructuredNameRecognizer(), (), 5),
        (full_name.FullNameRecognizer(), (), 50),
    ],
    ids=["addresses", "person-names", "structured-names", "full-names"],
)
def test_findings_are_the_same(
    texts: list[str], recognizer: Any, patterns: Sequence[tuple[Any, ...]], fewest: int
) -> None:
    found = 0
    for text in texts:
        want = list(_every_pattern(patterns, text) if patterns else recognizer.scan_with(text, every=True))
        assert list(recognizer.scan(text)) == want, text
        found += len(want)
    assert found > fewest


def test_card_candidates_are_the_same(texts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [list(payment.card_candidates(text)) for text in texts]
    monkeypatch.setattr(payment, "_FEWEST_DIGITS", 0)
    assert fast == [list(payment.card_candidates(text)) for text in texts]
    assert sum(len(found) for found in fast) > 50
