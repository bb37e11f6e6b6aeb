"""Deciding with the transform: pseudonymise, classify what is left, decide again.

The server, ``policy explain`` and ``policy test`` all call ``with_transform``
after a first decision, so what explain shows is what the server does:

1. only when the matched route has a transform and a target was excluded by
   the level alone (``Decision.transform_wanted``);
2. the outbound content is pseudonymised (``transform.pseudonymize``);
3. the result is classified again, every string of it, as any request is;
   findings that lie wholly inside one of this request's placeholders are the
   gateway's own text and are set aside, everything else counts;
4. the policy decides again with that residual (``Facts.residual_types``):
   a target may receive the pseudonymised content only when the residual
   level is within its ``max_level``. The invariant guard in ``TargetChain``
   checks it again at every attempt.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from gateway.classify.base import Classification
from gateway.outbound import Outbound
from gateway.policy.engine import Decision, Facts, decide
from gateway.policy.model import Policy
from gateway.pseudonymize.placeholders import PseudonymKey
from gateway.pseudonymize.transform import Pseudonymized, pseudonymize

Classify = Callable[[Sequence[str]], Awaitable[Classification]]
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*_[0-9]{6})>")


@dataclass(frozen=True, slots=True)
class Transformed:
    """The pseudonymised content a decision sends to ``targets``, at ``level``."""

    result: Pseudonymized
    level: str
    targets: frozenset[str]

    @property
    def outbound(self) -> Outbound:
        return self.result.outbound


async def with_transform(
    policy: Policy,
    facts: Facts,
    decision: Decision,
    outbound: Outbound,
    classification: Classification,
    classify: Classify,
    key: PseudonymKey,
    scope: str,
) -> tuple[Facts, Decision, Transformed | None]:
    """The decision once the route's transform is applied (see the module docstring)."""
    if not decision.transform_wanted or classification.error is not None:
        return facts, decision, None
    result = pseudonymize(
        outbound, outbound.extract(), classification.detections, decision.transform_types, key, scope
    )
    if not len(result.vault):
        residual = Classification(entity_types=classification.entity_types)
    else:
        texts, unreadable = result.outbound.texts()
        residual = Classification(error="unscannable_content") if unreadable else await classify(texts)
        residual = _without_placeholders(residual, texts, result)
    facts = dataclasses.replace(facts, residual_types=residual.entity_types, residual_error=residual.error)
    decision = decide(policy, facts)
    if not decision.transformed or decision.residual_level is None:
        return facts, decision, None
    return facts, decision, Transformed(result, decision.residual_level, frozenset(decision.transformed))


def _without_placeholders(found: Classification, texts: Sequence[str], result: Pseudonymized) -> Classification:
    """``found`` less the findings wholly inside a placeholder this request made (the gateway's own text)."""
    if found.error is not None:
        return found
    ours = {
        (i, m.start(), m.end())
        for i, text in enumerate(texts)
        for m in _PLACEHOLDER.finditer(text)
        if result.vault.value(m.group(1)) is not None
    }
    kept = tuple(
        d for d in found.detections
        if not any(i == d.text_index and start <= d.start and d.end <= end for i, start, end in ours)
    )  # fmt: skip
    if len(kept) == len(found.detections):
        return found
    types = frozenset(d.entity_type for d in kept)
    scores = {t: s for t, s in found.scores.items() if t in types}
    return Classification(entity_types=types, detections=kept, elapsed_ms=found.elapsed_ms, scores=scores)
