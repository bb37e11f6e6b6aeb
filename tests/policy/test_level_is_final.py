"""``level_is_final``: when the classifier may stop looking."""

from __future__ import annotations

from pathlib import Path

from gateway.policy.engine import level_is_final
from gateway.policy.loader import load_file, load_text

ROOT = Path(__file__).resolve().parents[2]


def test_top_level_without_entity_conditions_is_final() -> None:
    policy = load_file(ROOT / "policies" / "default.yaml").policy
    assert level_is_final(policy, frozenset({"CREDIT_CARD"}))
    assert not level_is_final(policy, frozenset({"EMAIL_ADDRESS"}))
    assert not level_is_final(policy, frozenset())


def test_a_route_on_entities_keeps_the_classifier_looking() -> None:
    source = (ROOT / "policies" / "default.yaml").read_text()
    source = source.replace(
        "    when: {level_at_least: confidential}\n",
        "    when: {any_of: [{level_at_least: confidential}, {entities_any: [PERSON]}]}\n",
    )
    policy = load_text(source, "p.yaml").policy
    assert not level_is_final(policy, frozenset({"CREDIT_CARD"}))
