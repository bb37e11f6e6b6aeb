from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.classify import Classification, PolicyRecognizer
from gateway.classify.policy_recognizers import PolicyRecognizerCompiler

Classify = Callable[..., Classification]

CODENAMES = PolicyRecognizer("PROJECT_CODENAME", words=("Project Falcon", "Bluebird", "猎鹰计划"))
ACCOUNT = PolicyRecognizer("ACCOUNT_NUMBER", pattern=r"\b\d{12}\b", context=("account", "acct", "账号"))


@pytest.mark.parametrize(
    "text",
    [
        "Status of PROJECT   falcon?",
        "bluebird is late",
        "关于猎鹰计划的进展",
        "Ｐｒｏｊｅｃｔ Ｆａｌｃｏｎ update",
        "(Bluebird)",
    ],
)
def test_words_match_case_insensitively_and_next_to_chinese(classify: Classify, text: str) -> None:
    assert "PROJECT_CODENAME" in classify(text, recognizers=(CODENAMES,)).entity_types


@pytest.mark.parametrize("text", ["Bluebirds2 flew", "The falcon project", "bluebirdx"])
def test_words_do_not_match_inside_latin_words(classify: Classify, text: str) -> None:
    assert "PROJECT_CODENAME" not in classify(text, recognizers=(CODENAMES,)).entity_types


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Account 123456789012 is overdrawn", True),
        ("账号123456789012已冻结", True),  # \b works next to Chinese
        ("Invoice 123456789012 attached", False),  # no context word: 40% of the score
        ("acct: 1234567890123 too long", False),
    ],
)
def test_pattern_with_context(classify: Classify, text: str, expected: bool) -> None:
    result = classify(text, recognizers=(ACCOUNT,))
    assert ("ACCOUNT_NUMBER" in result.entity_types) is expected


def test_pattern_without_context_scores_its_score(classify: Classify) -> None:
    ticket = PolicyRecognizer("TICKET", pattern=r"\bSEC-\d{4}\b", score=0.7)
    result = classify("see sec-1234", recognizers=(ticket,))
    assert result.scores["TICKET"] == 0.7


def test_compiled_recognizers_are_cached_per_tuple() -> None:
    compiler = PolicyRecognizerCompiler(max_entries=1)
    first = compiler.compile((CODENAMES, ACCOUNT))
    assert compiler.compile((CODENAMES, ACCOUNT)) is first
    assert compiler.compile((ACCOUNT,)) is not first
    assert compiler.compile((CODENAMES, ACCOUNT)) is not first  # evicted, rebuilt
    assert compiler.compile(()) == ()


def test_invalid_recognizers_are_refused() -> None:
    compiler = PolicyRecognizerCompiler()
    with pytest.raises(ValueError):
        compiler.compile((PolicyRecognizer("EMPTY"),))
    with pytest.raises(ValueError):
        compiler.compile((PolicyRecognizer("BOTH", words=("a",), pattern="b"),))
