"""The policy file's shape: what compliance officers write.

Every model forbids unknown keys, so a misspelt field is an error with its
line and column rather than a silently ignored rule. Cross-references (a route
naming a target, a level named anywhere) are checked in ``Policy``'s validator;
``gateway/policy/checks.py`` adds the warnings that need the whole picture.
The JSON Schema that editors use (``gateway policy schema``) is generated from
these classes, so the field docstrings below are what an editor shows.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.policy.capabilities import Capabilities

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/@+-]+$")]
EntityName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="An entity type, e.g. CREDIT_CARD.")]
Api = Literal["chat", "embeddings", "responses", "messages"]
"""The kind of call: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/responses``, ``/v1/messages``."""
Task = Literal["chat", "embeddings"]
TASK_OF_API: dict[str, str] = {"chat": "chat", "responses": "chat", "messages": "chat", "embeddings": "embeddings"}
"""What a target must do to serve an API: the Responses and Messages APIs are served by chat models."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RecognizerSpec(_Strict):
    """A detector owned by compliance: a word list, or a pattern with context."""

    entity: EntityName = Field(description="The entity type this detector reports, e.g. PROJECT_CODENAME.")
    words: list[str] = Field(default_factory=list, description="Exact phrases, matched case-insensitively.")
    pattern: str | None = Field(default=None, description="A regular expression (Python syntax).")
    context: list[str] = Field(
        default_factory=list, description="Words near a pattern match that make it more certain."
    )
    score: float = Field(default=0.85, ge=0, le=1, description="Confidence given to a match, 0 to 1.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern

    @model_validator(mode="after")
    def _one_detector(self) -> RecognizerSpec:
        if bool(self.words) == bool(self.pattern):
            raise ValueError("give either 'words' or 'pattern' (exactly one)")
        return self


class Classification(_Strict):
    """How a request's level is found: the highest level among what was detected."""

    default_level: str = Field(description="Level when nothing is detected.")
    on_error: str = Field(description="Level when the classifier fails or times out: fail closed.")
    min_score: float = Field(default=0.5, ge=0, le=1, description="Detections with a lower confidence are ignored.")
    entities: dict[EntityName, str] = Field(
        default_factory=dict, description="Detected entity type -> the level it raises the request to."
    )
    recognizers: list[RecognizerSpec] = Field(
        default_factory=list, description="Compliance-owned detectors added to the built-in ones."
    )
    on_undecodable: Literal["on_error", "ignore"] = Field(
        default="on_error",
        description="Content that looks encoded but cannot be read (a PDF, archive or image in base64, an "
        "encrypted block, encodings nested too deep), reported as UNDECODABLE_CONTENT: on_error gives the "
        "request at least the on_error level; ignore gives it only what 'entities' maps "
        "UNDECODABLE_CONTENT to (nothing by default).",
    )


class Pricing(_Strict):
    """Either per-token prices, or GPU-hours amortised over throughput."""

    usd_per_million_input: float | None = Field(default=None, ge=0, description="USD per million input tokens.")
    usd_per_million_output: float | None = Field(default=None, ge=0, description="USD per million output tokens.")
    usd_per_million_cached_input: float | None = Field(
        default=None, ge=0, description="USD per million input tokens served from the provider's cache."
    )
    usd_per_gpu_hour: float | None = Field(default=None, ge=0, description="USD per GPU-hour (on-prem).")
    tokens_per_second: float | None = Field(
        default=None, gt=0, description="Throughput that spreads the GPU-hour over tokens."
    )

    @model_validator(mode="after")
    def _complete(self) -> Pricing:
        per_token = self.usd_per_million_input is not None or self.usd_per_million_output is not None
        per_gpu = self.usd_per_gpu_hour is not None or self.tokens_per_second is not None
        if per_token and per_gpu:
            raise ValueError("give per-token prices or GPU-hour pricing, not both")
        if per_gpu and (self.usd_per_gpu_hour is None or self.tokens_per_second is None):
            raise ValueError("GPU-hour pricing needs both 'usd_per_gpu_hour' and 'tokens_per_second'")
        return self


class TargetLimits(_Strict):
    """What one answer of a target may cost the gateway (operators). Over a limit the attempt
    fails as an upstream error (``upstream_response_too_large``), recorded as any failure."""

    max_response_bytes: int = Field(
        default=8 << 20, ge=1024, le=1 << 30, description="Largest body of a non-streamed answer, in bytes."
    )
    max_stream_bytes: int = Field(
        default=32 << 20, ge=1024, le=1 << 34,
        description="Largest streamed answer, all its events together, in bytes (litellm: its chunks' text).",
    )  # fmt: skip
    max_header_bytes: int = Field(
        default=64 << 10, ge=1024, le=1 << 24, description="Largest response headers, names and values, in bytes."
    )
    max_headers: int = Field(default=100, ge=8, le=10_000, description="Most response header fields.")


class Target(_Strict):
    """A model the gateway may send requests to."""

    kind: Literal["transformers", "openai_compatible", "litellm"] = Field(
        description="transformers: open model in the gateway's process; openai_compatible: a server "
        "inside the bank (vLLM, TGI...); litellm: a closed API."
    )
    model: str = Field(min_length=1, description="The model name the upstream knows, or a local directory.")
    task: Task = Field(
        default="chat",
        description="What the model does: chat (generates: serves chat completions, the Responses and Messages "
        "APIs) or embeddings (serves /v1/embeddings only). A route's targets that cannot serve a request's API "
        "are never tried for it (excluded as 'api' in the decision).",
    )
    residency: Literal["on_prem", "external"] = Field(
        description="Where a request's content goes: stays in the bank (on_prem) or leaves it (external)."
    )
    max_level: str | None = Field(
        default=None,
        description="Highest level this target may ever receive. Default: the highest level for "
        "on_prem targets, the lowest for external ones.",
    )
    api_base: str | None = Field(default=None, description="Upstream URL (operators only).")
    api_key_env: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="Environment variable holding the key."
    )
    requires_env: bool = Field(
        default=False,
        description="Skip this target (as unavailable) when 'api_key_env' is not set in the environment.",
    )
    timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds one attempt may take, first byte to last (operators)."
    )
    connect_timeout_s: float = Field(
        default=5.0, gt=0, le=600, description="Seconds to open a connection to the upstream (operators)."
    )
    first_token_timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Seconds a stream may take to its first chunk before the attempt counts as failed "
        "and the next target is tried (default: 'timeout_s'; operators).",
    )
    max_in_flight: int | None = Field(
        default=None,
        ge=1,
        description="Requests in flight to this target per gateway replica; more wait, then get 503 "
        "(default: the configuration's resilience.backpressure.max_in_flight; operators).",
    )
    pricing: Pricing | None = Field(default=None, description="What a request costs, for reports and replay.")
    limits: TargetLimits = Field(
        default_factory=TargetLimits,
        description="Size limits on the target's answers: body, stream, headers (operators; docs/security.md).",
    )
    capabilities: Capabilities | None = Field(
        default=None,
        description="What the model can do (tools, json_schema, json_object, images, logprobs, context_tokens); "
        "left out: its kind's defaults (gateway/policy/capabilities.py). Requests it cannot serve go elsewhere.",
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> Target:
        if self.kind == "openai_compatible" and not self.api_base:
            raise ValueError("an 'openai_compatible' target needs 'api_base'")
        if self.requires_env and not self.api_key_env:
            raise ValueError("'requires_env' needs 'api_key_env'")
        return self


class VirtualModel(_Strict):
    """A name clients put in ``model``."""

    tier: str = Field(default="standard", min_length=1, description="A label routes can match with 'tier'.")
    description: str = Field(default="", description="Shown to clients in GET /v1/models.")


class When(_Strict):
    """Conditions of a route; all given conditions must hold.

    A route without ``when`` matches every request. ``any_of`` holds if at
    least one of its groups holds (each group again needs all its conditions).
    """

    level_at_least: str | None = Field(default=None, description="The request's level is this level or higher.")
    level_at_most: str | None = Field(default=None, description="The request's level is this level or lower.")
    entities_any: list[EntityName] | None = Field(
        default=None, min_length=1, description="At least one of these entity types was detected."
    )
    team: list[str] | None = Field(default=None, min_length=1, description="The API key belongs to one of these teams.")
    tier: list[str] | None = Field(
        default=None, min_length=1, description="The requested virtual model has one of these tiers."
    )
    model: list[str] | None = Field(
        default=None, min_length=1, description="The client asked for one of these virtual models."
    )
    api: list[Api] | None = Field(
        default=None, min_length=1,
        description="The request came through one of these APIs (chat, embeddings, responses, messages). "
        "A route without it matches every API.",
    )  # fmt: skip
    estimated_input_tokens_over: int | None = Field(
        default=None, ge=0, description="The request's estimated input size is above this many tokens."
    )
    estimated_input_tokens_under: int | None = Field(
        default=None, ge=1, description="The request's estimated input size is below this many tokens."
    )
    any_of: list[When] | None = Field(
        default=None, min_length=1, description="At least one of these groups of conditions holds."
    )

    @field_validator(
        "team", "tier", "model", "entities_any", "api", mode="before", json_schema_input_type=str | list[str]
    )
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RouteCache(_Strict):
    """Response caching for a route."""

    ttl_s: int = Field(default=3600, ge=1, le=30 * 86400, description="Seconds an answer stays cached.")
    max_level: str | None = Field(default=None, description="Never cache above this level (default: internal).")
    scope: Literal["team", "organisation"] = Field(
        default="team",
        description="Who may be served a cached answer: the same team, or anyone (organisation: only "
        "with max_level set to the lowest level).",
    )
    nondeterministic: bool = Field(
        default=False, description="Also cache requests with temperature above 0 and no seed."
    )


class Pseudonymize(_Strict):
    """Send the request, with detected values replaced by placeholders, to targets its level excludes."""

    pseudonymize: list[EntityName] | None = Field(
        default=None,
        description="Entity types replaced by placeholders. Default: every mapped type below the highest "
        "level (names, e-mails, phones, addresses in the usual policy); the highest level's types (cards, "
        "IBANs, national IDs) only when named here.",
    )


class Route(_Strict):
    """First matching route wins: ``targets`` in order, or ``deny``."""

    name: Name = Field(description="Shown in the x-gateway-route header, the ledger and reports.")
    when: When = Field(default_factory=When, description="Conditions; none means every request matches.")
    targets: list[str] | None = Field(
        default=None, description="Targets tried in order; those not permitted for the level are skipped."
    )
    deny: str | None = Field(
        default=None, min_length=1, max_length=500, description="Refuse with this message (403 policy_denied)."
    )
    cache: RouteCache | None = Field(default=None, description="Cache answers of this route.")
    deadline_s: float | None = Field(
        default=None, gt=0, le=3600, description="Seconds for the whole request, fallbacks included."
    )
    transform: Literal["pseudonymize"] | Pseudonymize | None = Field(
        default=None,
        description="`pseudonymize` (or {pseudonymize: [TYPES]}): targets whose max_level is below the "
        "request's level receive it pseudonymised, if what is left after the transform is within their "
        "max_level (classified again). Answers are restored before the client sees them.",
    )

    @model_validator(mode="after")
    def _effect(self) -> Route:
        if (self.targets is None) == (self.deny is None):
            raise ValueError("a route needs either 'targets' or 'deny' (exactly one)")
        if self.targets is not None and not self.targets:
            raise ValueError("'targets' must name at least one target")
        if self.deny is not None and self.cache is not None:
            raise ValueError("a 'deny' route cannot have 'cache'")
        if self.deny is not None and self.transform is not None:
            raise ValueError("a 'deny' route cannot have 'transform'")
        return self


class Budget(_Strict):
    """A team's monthly spending limit."""

    team: str = Field(min_length=1, description="The team the limit applies to.")
    monthly_usd: float = Field(gt=0, description="USD per calendar month.")
    on_exceed: Literal["block", "on_prem_only"] = Field(
        default="block", description="When spent: refuse (429 budget_exceeded) or use on-prem targets only."
    )
    soft_threshold: float = Field(
        default=0.8, gt=0, le=1, description="Share of the budget at which a warning is recorded."
    )


class TestRequest(_Strict):
    """An OpenAI Chat Completions request, as a client would send it."""

    __test__ = False  # not a pytest test class

    model: str = Field(description="A virtual model from 'models'.")
    messages: list[dict[str, Any]] = Field(description="OpenAI chat messages.")
    tools: list[dict[str, Any]] | None = Field(default=None, description="OpenAI tool definitions.")
    response_format: dict[str, Any] | None = Field(
        default=None, description="OpenAI response_format (json_object, json_schema): only targets that can do it."
    )


class TestExpect(_Strict):
    """What must happen; only the fields given are compared."""

    __test__ = False  # not a pytest test class

    level: str | None = Field(default=None, description="The level decided.")
    route: str | None = Field(default=None, description="The route that matched.")
    residency: Literal["on_prem", "external"] | None = Field(
        default=None, description="Residency of the first target that would be tried."
    )
    target: str | None = Field(default=None, description="The first target that would be tried.")
    denied: bool | None = Field(default=None, description="The request is refused (a 'deny' route or budget).")
    unserved: bool | None = Field(
        default=None,
        description="No target the request may go to can do what it asks (tools, JSON, images...): a 400.",
    )
    entities: list[EntityName] | None = Field(
        default=None, description="Entity types that must be detected (others may be detected too)."
    )
    entities_absent: list[EntityName] | None = Field(
        default=None, description="Entity types that must not be detected."
    )

    @model_validator(mode="after")
    def _something(self) -> TestExpect:
        if not self.model_fields_set:
            raise ValueError("'expect' must say at least one thing (level, route, target, residency...)")
        return self


class TestCase(_Strict):
    """A case for ``gateway policy test``: a request (or just text) and what must happen."""

    __test__ = False  # not a pytest test class

    name: str = Field(min_length=1, description="Printed with PASS or FAIL.")
    request: TestRequest | None = Field(default=None, description="A full request; or give 'text'.")
    text: str | None = Field(default=None, description="Just the user's text; or give 'request'.")
    model: str | None = Field(
        default=None, description="Virtual model for a 'text' case (default: the first in 'models')."
    )
    api: Literal["chat", "embeddings"] = Field(
        default="chat", description="For a 'text' case: sent as a chat message (chat) or as an embeddings input."
    )
    team: str | None = Field(default=None, description="The team of the API key.")
    over_budget: bool = Field(default=False, description="The team's monthly budget is spent.")
    unavailable: list[str] = Field(default_factory=list, description="Targets to treat as down (to test fallbacks).")
    expect: TestExpect = Field(description="What must happen.")

    @model_validator(mode="after")
    def _input(self) -> TestCase:
        if (self.request is None) == (self.text is None):
            raise ValueError("a test case needs either 'request' or 'text' (exactly one)")
        if self.request is not None and self.model is not None:
            raise ValueError("give the model inside 'request', not beside it")
        return self


class Policy(_Strict):
    """The whole routing policy."""

    version: Literal[1] = Field(description="The format version: 1.")
    name: str = Field(min_length=1, description="A name for people; the version is a hash of the content.")
    levels: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        min_length=1, description="Sensitivity levels, lowest first."
    )
    classification: Classification = Field(description="How a request's level is found.")
    targets: dict[Name, Target] = Field(min_length=1, description="Models the gateway may send requests to.")
    models: dict[Name, VirtualModel] = Field(min_length=1, description="Names clients put in 'model'.")
    routes: list[Route] = Field(min_length=1, description="Top to bottom; the first whose 'when' holds wins.")
    budgets: list[Budget] = Field(default_factory=list, description="Monthly spending limits per team.")
    reference_model: str | None = Field(
        default=None, description="A closed model whose price reports compare against (savings)."
    )
    tests: list[TestCase] = Field(default_factory=list, description="Cases run by `gateway policy test`.")

    def rank(self, level: str) -> int:
        return self.levels.index(level)

    def max_level_of(self, target: Target) -> str:
        if target.max_level is not None:
            return target.max_level
        return self.levels[-1] if target.residency == "on_prem" else self.levels[0]

    def pseudonymized_types(self, route: Route) -> frozenset[str]:
        """The entity types ``route``'s transform replaces (none without a transform)."""
        if route.transform is None:
            return frozenset()
        if not isinstance(route.transform, str) and route.transform.pseudonymize is not None:
            return frozenset(route.transform.pseudonymize)
        top = self.rank(self.levels[-1])
        return frozenset(e for e, level in self.classification.entities.items() if self.rank(level) < top)


Path = tuple[str | int, ...]


def reference_problems(policy: Policy) -> list[tuple[Path, str]]:
    """Cross-references that a field on its own cannot check, with their paths."""
    problems: list[tuple[Path, str]] = []
    levels = set(policy.levels)

    def level(value: str | None, path: Path) -> None:
        if value is not None and levels and value not in levels:  # no levels: they are wrong themselves
            problems.append((path, f"unknown level {value!r}; the levels are {policy.levels}"))

    if len(levels) != len(policy.levels):
        problems.append((("levels",), "each level must appear once"))
    c = policy.classification
    level(c.default_level, ("classification", "default_level"))
    level(c.on_error, ("classification", "on_error"))
    for entity, value in c.entities.items():
        level(value, ("classification", "entities", entity))
    for name, target in policy.targets.items():
        level(target.max_level, ("targets", name, "max_level"))
    tiers = {m.tier for m in policy.models.values()}
    seen: set[str] = set()
    for i, route in enumerate(policy.routes):
        if route.name in seen:
            problems.append((("routes", i, "name"), f"duplicate route name {route.name!r}"))
        seen.add(route.name)
        for j, target_name in enumerate(route.targets or ()):
            if target_name not in policy.targets:
                problems.append(
                    (
                        ("routes", i, "targets", j),
                        f"unknown target {target_name!r}; the targets are {sorted(policy.targets)}",
                    )
                )
        if route.cache is not None:
            level(route.cache.max_level, ("routes", i, "cache", "max_level"))
            if policy.levels and route.cache.scope == "organisation" and route.cache.max_level != policy.levels[0]:
                problems.append(
                    (
                        ("routes", i, "cache", "scope"),
                        "scope 'organisation' shares cached answers between teams, so it is allowed only "
                        f"for the lowest level: set 'max_level: {policy.levels[0]}' in this route's cache",
                    )
                )
        for path, group in groups_with_paths(route.when, ("routes", i, "when")):
            level(group.level_at_least, (*path, "level_at_least"))
            level(group.level_at_most, (*path, "level_at_most"))
            for model in group.model or ():
                if model not in policy.models:
                    problems.append(
                        ((*path, "model"), f"unknown model {model!r}; the models are {sorted(policy.models)}")
                    )
            for tier in group.tier or ():
                if tier not in tiers:
                    problems.append(((*path, "tier"), f"no model has tier {tier!r}; tiers are {sorted(tiers)}"))
    for i, budget in enumerate(policy.budgets):
        if budget.team in {b.team for b in policy.budgets[:i]}:
            problems.append((("budgets", i, "team"), f"a second budget for team {budget.team!r}"))
    return problems


def groups_with_paths(when: When, path: Path) -> list[tuple[Path, When]]:
    out: list[tuple[Path, When]] = [(path, when)]
    for k, group in enumerate(when.any_of or ()):
        out.extend(groups_with_paths(group, (*path, "any_of", k)))
    return out


def condition_groups(when: When) -> list[When]:
    out = [when]
    for group in when.any_of or ():
        out.extend(condition_groups(group))
    return out
