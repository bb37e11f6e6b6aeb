"""Cache keys: equal only for requests that may share an answer; opaque otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.cache import cache_key, deterministic, scope_for

SECRET = b"s" * 32
BASE: dict[str, Any] = {
    "scope": "team:payments",
    "policy_version": "v1",
    "route": "premium",
    "targets": ("external", "onprem"),
    "level": "internal",
    "model": "bank-premium",
    "messages": [{"role": "user", "content": "Define convexity."}],
    "params": {"temperature": 0.0, "max_tokens": 100},
}


def key(**changes: Any) -> str:
    return cache_key(SECRET, **{**BASE, **changes})


def test_same_request_same_key_and_the_key_is_opaque() -> None:
    assert key() == key()
    assert len(key()) == 64 and all(c in "0123456789abcdef" for c in key())
    for clear in ("payments", "premium", "convexity", "bank", "onprem"):
        assert clear not in key()


@pytest.mark.parametrize(
    "change",
    [
        {"scope": "team:research"},
        {"scope": "org"},
        {"policy_version": "v2"},
        {"route": "default"},
        {"targets": ("onprem", "external")},
        {"targets": ("onprem",)},
        {"level": "public"},
        {"model": "bank-standard"},
        {"messages": [{"role": "user", "content": "Define convexity!"}]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Define convexity."}]},
        {"params": {"temperature": 0.0, "max_tokens": 101}},
        {"params": {"temperature": 0.0, "max_tokens": 100, "seed": 1}},
        {"params": {"temperature": 0.0, "max_tokens": 100, "stop": ["\n"]}},
        {"params": {"temperature": 0.0, "max_tokens": 100, "response_format": {"type": "json_object"}}},
        {"params": {"temperature": 0.0, "max_tokens": 100, "tools": [{"type": "function"}]}},
    ],
)
def test_anything_that_changes_the_answer_or_who_may_see_it_changes_the_key(change: dict[str, Any]) -> None:
    assert key(**change) != key()


def test_the_end_user_label_and_key_order_do_not_change_the_key() -> None:
    assert key(params={"max_tokens": 100, "temperature": 0.0, "user": "alice"}) == key()
    assert key(params={"temperature": 0.0, "max_tokens": 100, "seed": None}) == key()


def test_another_secret_gives_unrelated_keys() -> None:
    assert cache_key(b"t" * 32, **BASE) != key()
    with pytest.raises(ValueError):
        cache_key(b"", **BASE)


@pytest.mark.parametrize(
    ("params", "expected"),
    [({}, False), ({"temperature": 0}, True), ({"temperature": 0.7}, False), ({"temperature": 0.7, "seed": 3}, True)],
)
def test_deterministic(params: dict[str, Any], expected: bool) -> None:
    assert deterministic(params) is expected


def test_organisation_scope_only_at_the_lowest_level() -> None:
    assert scope_for("organisation", team="a", level="public", lowest_level="public") == "org"
    assert scope_for("organisation", team="a", level="internal", lowest_level="public") == "team:a"
    assert scope_for("team", team="a", level="public", lowest_level="public") == "team:a"
