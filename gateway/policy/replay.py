"""``gateway policy replay``: what a new policy would have done with recorded traffic.

Replay re-decides every recorded request from the facts the ledger kept (the
virtual model, the team, the entity types found, whether the classifier
failed, the estimated input size), never from prompts, which the gateway does
not store. It counts what would change (routes, levels, residency, targets,
denials) and estimates the cost under the new policy: the recorded token
counts priced at the new first target's ``pricing``.

Replay re-decides recorded facts; it is not a shadow run of the classifier.
A level is recomputed from the recorded entity types, so a new
``classification.entities`` mapping of a type the recording policy already
looked for shows up as level changes. A type it did not look for was never
detected, so the ledger cannot say whether a request held one: given
``looked_for`` (the types each recorded policy version looked for), replay
counts, per type the new policy uses, the requests for which it is not
knowable, rather than report "no change". New recognizers and a new
``min_score`` are not knowable either: they would need the text.

Assumed, because the ledger cannot say: every target is up and no team is over
budget; the first permitted target answers; a request answered from the cache
is priced as if a target had answered it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.base import Usage
from gateway.policy.engine import Facts, UnknownModel, decide, detected_entities
from gateway.policy.model import Policy, Target
from gateway.pricing import Price, from_pricing

DENIED_OUTCOMES = frozenset({"policy_denied", "budget_exceeded"})
NONE = "(none)"

PriceOf = Callable[[Target], Price | None]
LookedFor = Callable[[str], frozenset[str] | None]
"""A recorded policy version -> the entity types the classifier looked for under it; ``None``: unknown."""


@dataclass(frozen=True, slots=True)
class RecordedFacts:
    """What the ledger kept about one request: facts and outcome, never content."""

    model: str
    team: str
    entity_types: str  # comma-separated, as stored
    classifier_error: bool
    estimated_input_tokens: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    route: str | None
    target: str | None
    residency: str | None
    level: str
    request_id: str = ""
    outcome: str = "ok"
    cached_tokens_in: int = 0
    policy_version: str = ""
    api: str = "chat"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RecordedFacts:
        """From a row of the ledger table (``gateway/ledger/schema.py``)."""
        return cls(
            model=str(row["model"]),
            team=str(row.get("team") or ""),
            entity_types=str(row.get("entity_types") or ""),
            classifier_error=bool(row.get("classifier_error")),
            estimated_input_tokens=int(row.get("estimated_input_tokens") or 0),
            tokens_in=int(row.get("prompt_tokens") or 0),
            tokens_out=int(row.get("completion_tokens") or 0),
            cost_usd=Decimal(str(row.get("cost_usd") or 0)),
            route=row.get("route"),
            target=row.get("target"),
            residency=row.get("residency"),
            level=str(row["level"]),
            request_id=str(row.get("request_id") or ""),
            outcome=str(row.get("outcome") or "ok"),
            cached_tokens_in=int(row.get("cached_prompt_tokens") or 0),
            policy_version=str(row.get("policy_version") or ""),
            api=str(row.get("api") or "chat"),
        )

    def facts(self) -> Facts:
        return Facts(
            model=self.model,
            entity_types=frozenset(e.strip() for e in self.entity_types.split(",") if e.strip()),
            classifier_error="recorded classifier error" if self.classifier_error else None,
            team=self.team,
            estimated_input_tokens=self.estimated_input_tokens,
            api=self.api,
        )

    @property
    def denied(self) -> bool:
        return self.outcome in DENIED_OUTCOMES


@dataclass(slots=True)
class ReplayReport:
    """What would change. Pairs are (recorded, new); ``(none)`` stands for no route, target or residency."""

    requests: int = 0
    changed: int = 0
    route_changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    level_changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    residency_changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    target_changes: Counter[tuple[str, str]] = field(default_factory=Counter)
    denied: Counter[str] = field(default_factory=Counter)  # new denials by route
    newly_denied: int = 0
    no_target: int = 0
    unknown_model: Counter[str] = field(default_factory=Counter)
    recorded_cost_usd: Decimal = Decimal(0)
    new_cost_usd: Decimal = Decimal(0)
    priced_requests: int = 0
    recorded_cost_of_priced_usd: Decimal = Decimal(0)
    unpriced: Counter[str] = field(default_factory=Counter)  # target without pricing -> requests
    not_knowable: Counter[str] = field(default_factory=Counter)
    """Entity type the new policy uses -> requests whose recording policy did not look for it."""
    unknown_versions: Counter[str] = field(default_factory=Counter)
    """Recorded policy version whose text the database does not keep -> requests."""
    knowability_assessed: bool = False
    pseudonymizable: Counter[str] = field(default_factory=Counter)
    """Route -> requests it would try to send pseudonymised (its residual level is not knowable)."""

    @property
    def cost_difference_usd(self) -> Decimal:
        """New minus recorded cost, over the requests whose new cost is known."""
        return self.new_cost_usd - self.recorded_cost_of_priced_usd

    def to_json(self) -> dict[str, Any]:
        def pairs(counter: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
            return [{"from": a, "to": b, "requests": n} for (a, b), n in counter.most_common()]

        return {
            "requests": self.requests,
            "changed": self.changed,
            "route_changes": pairs(self.route_changes),
            "level_changes": pairs(self.level_changes),
            "residency_changes": pairs(self.residency_changes),
            "target_changes": pairs(self.target_changes),
            "denied": {"total": sum(self.denied.values()), "newly": self.newly_denied, "by_route": dict(self.denied)},
            "no_target_available": self.no_target,
            "unknown_model": dict(self.unknown_model),
            "cost_usd": {
                "recorded": f"{self.recorded_cost_usd:.6f}",
                "new_estimated": f"{self.new_cost_usd:.6f}",
                "recorded_for_priced": f"{self.recorded_cost_of_priced_usd:.6f}",
                "difference": f"{self.cost_difference_usd:.6f}",
                "priced_requests": self.priced_requests,
                "unknown_pricing": dict(self.unpriced),
            },
            "not_knowable": {
                "assessed": self.knowability_assessed,
                "entity_types": dict(self.not_knowable.most_common()),
                "unknown_policy_versions": dict(self.unknown_versions.most_common()),
                "pseudonymizable_by_route": dict(self.pseudonymizable.most_common()),
            },
        }


def policy_price(target: Target) -> Price | None:
    """The target's price from the policy's ``pricing``, or ``None`` if it has none."""
    return from_pricing(target.pricing) if target.pricing is not None else None


def replay(
    policy: Policy,
    records: Iterable[RecordedFacts],
    price_of: PriceOf = policy_price,
    looked_for: LookedFor | None = None,
) -> ReplayReport:
    """Re-decide recorded requests under ``policy``. Pure: no I/O.

    ``looked_for``: what each recorded policy version's classifier looked for, to count
    what is not knowable from the ledger (``ReplayReport.not_knowable``); without it,
    that is not assessed (``knowability_assessed`` is false).
    """
    report = ReplayReport(knowability_assessed=looked_for is not None)
    prices: dict[str, Price | None] = {}
    uses = detected_entities(policy)
    for record in records:
        report.requests += 1
        report.recorded_cost_usd += record.cost_usd
        if looked_for is not None:
            _count_unknowable(report, uses, record.policy_version, looked_for)
        try:
            decision = decide(policy, record.facts())
        except UnknownModel:
            report.unknown_model[record.model] += 1
            report.changed += 1
            continue
        if decision.transform_wanted:
            report.pseudonymizable[decision.route or NONE] += 1
        target = decision.targets[0] if decision.targets else None
        residency = policy.targets[target].residency if target else None
        old_target = None if record.denied else record.target
        old_residency = None if record.denied else record.residency
        was = (record.route, record.level, old_residency, old_target)
        now = (decision.route, decision.level, residency, target)
        if was != now:
            report.changed += 1
        _count(report.route_changes, record.route, decision.route)
        _count(report.level_changes, record.level, decision.level)
        _count(report.residency_changes, old_residency, residency)
        _count(report.target_changes, old_target, target)
        if decision.deny is not None:
            report.denied[decision.route or NONE] += 1
            report.newly_denied += not record.denied
        elif target is None:
            report.no_target += 1
        if target is None:
            cost: Decimal | None = Decimal(0)
        else:
            if target not in prices:
                prices[target] = price_of(policy.targets[target])
            price = prices[target]
            usage = Usage(record.tokens_in, record.tokens_out, record.cached_tokens_in)
            cost = price.cost(usage) if price is not None else None
        if cost is None:
            report.unpriced[target or NONE] += 1
        else:
            report.priced_requests += 1
            report.new_cost_usd += cost
            report.recorded_cost_of_priced_usd += record.cost_usd
    return report


def _count_unknowable(report: ReplayReport, uses: frozenset[str], version: str, looked_for: LookedFor) -> None:
    recorded = looked_for(version)
    if recorded is None:
        report.unknown_versions[version or NONE] += 1
    for entity in uses if recorded is None else uses - recorded:
        report.not_knowable[entity] += 1


def _count(counter: Counter[tuple[str, str]], old: str | None, new: str | None) -> None:
    if old != new:
        counter[(old or NONE, new or NONE)] += 1


def render_table(report: ReplayReport, title: str) -> str:
    """The report for a person, as plain text."""
    lines = [title, f"{report.requests} recorded requests, {report.changed} would be decided differently", ""]

    def section(name: str, counter: Counter[tuple[str, str]]) -> None:
        lines.append(f"{name}:")
        if not counter:
            lines.append(f"  none{_UNKNOWABLE_SEE if report.not_knowable else ''}")
        width = max((len(f"{a} -> {b}") for a, b in counter), default=0)
        lines.extend(f"  {f'{a} -> {b}':<{width}}  {n:>8}" for (a, b), n in counter.most_common())
        lines.append("")

    section("Route changes", report.route_changes)
    section("Level changes", report.level_changes)
    section("Residency changes", report.residency_changes)
    section("Target changes", report.target_changes)
    lines += _unknowable_lines(report)
    denied = sum(report.denied.values())
    by_route = ", ".join(f"{route}: {n}" for route, n in report.denied.most_common())
    lines.append(f"Denied under the new policy: {denied} ({report.newly_denied} not denied before)")
    if by_route:
        lines.append(f"  by route: {by_route}")
    lines.append(f"No target available (503): {report.no_target}")
    if report.unknown_model:
        models = ", ".join(f"{m}: {n}" for m, n in report.unknown_model.most_common())
        lines.append(f"Model no longer in the policy (404): {models}")
    lines += [
        "",
        "Cost (USD, recorded tokens at the new targets' policy pricing):",
        f"  recorded, all requests:        {report.recorded_cost_usd:.6f}",
        f"  recorded, requests priced:     {report.recorded_cost_of_priced_usd:.6f}",
        f"  new policy, estimated:         {report.new_cost_usd:.6f}  ({report.priced_requests} requests)",
        f"  difference:                    {report.cost_difference_usd:+.6f}",
    ]
    if report.unpriced:
        unknown = ", ".join(f"{t} ({n} requests)" for t, n in report.unpriced.most_common())
        lines.append(f"  unknown pricing, left out: {unknown}: give these targets 'pricing' in the policy")
    lines += [
        "",
        "Assumed: every target up, no team over budget, the first permitted target answers.",
        *_pseudonymizable_lines(report),
        "Replay re-decides the recorded facts; it does not classify again (the ledger keeps no text).",
    ]
    return "\n".join(lines)


def _pseudonymizable_lines(report: ReplayReport) -> list[str]:
    if not report.pseudonymizable:
        return []
    routes = ", ".join(f"{route}: {n}" for route, n in report.pseudonymizable.most_common())
    return [
        f"Would try pseudonymising ({routes}): whether what is left after the transform lets them reach the "
        "targets their level excludes is not knowable from the ledger (it depends on the text); they are shown "
        "as the level alone decides them."
    ]


_UNKNOWABLE_SEE = " among the recorded entity types; see 'Not knowable from the ledger'"


def _unknowable_lines(report: ReplayReport) -> list[str]:
    if not report.knowability_assessed:
        return ["Not knowable from the ledger: not assessed (the recording policies were not read)", ""]
    if not report.not_knowable:
        return []
    lines = ["Not knowable from the ledger (requests classified under a policy that did not look for the type):"]
    width = max(len(entity) for entity in report.not_knowable)
    lines.extend(
        f"  {entity:<{width}}  {n:>8}  whether they held one, and so their level and route, is not knowable"
        for entity, n in report.not_knowable.most_common()
    )
    if report.unknown_versions:
        versions = ", ".join(f"{v} ({n} requests)" for v, n in report.unknown_versions.most_common())
        lines.append(f"  recorded under policy versions the database does not keep: {versions}")
    return [*lines, ""]
