"""Operator configuration: one YAML file, environment overrides, validated once.

Precedence, lowest first: built-in defaults, the file (``--config`` or
``GATEWAY_CONFIG``), then the environment (``GATEWAY_POLICY``, ``REDIS_URL``,
``DATABASE_URL``, ``GATEWAY_HOST``, ``GATEWAY_PORT``), then command-line flags.
Secrets never appear inline: the file names environment variables instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.fastpaths import SWITCHES, FastPaths, libraries_forced
from gateway.policy.loader import PolicyError, dotted, parse, position_of
from gateway.resilience.settings import ResilienceSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaticKey(_Strict):
    """An API key given in the config file, by its SHA-256 hash only."""

    id: str = Field(min_length=1, max_length=64)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    team: str = Field(min_length=1)
    roles: list[Literal["user", "finance", "compliance", "monitor", "admin"]] = Field(default_factory=lambda: ["user"])
    models: list[str] | None = None


class Limits(_Strict):
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    max_messages: int = Field(default=500, ge=1)
    request_deadline_s: float = Field(default=120.0, gt=0, le=3600)
    max_header_bytes: int = Field(
        default=32 << 10, ge=4096, le=1 << 20,
        description="A request's line and headers together, in bytes; more: 431 and the connection closed.",
    )  # fmt: skip
    max_headers: int = Field(default=100, ge=16, le=1000, description="Header fields per request; more: 431.")
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=300,
        description="Seconds from a request's first byte (or its connection) to the end of its headers; "
        "then 408 and the connection closed.",
    )  # fmt: skip
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600,
        description="Seconds from the end of a request's headers to the end of its body; then 408 and the "
        "connection closed (a body that stops arriving).",
    )  # fmt: skip


class ClassifierSettings(_Strict):
    ner_model: str = Field(default="en_core_web_sm", description="spaCy NER model for English (and for data).")
    ner_models: dict[str, str] = Field(
        default_factory=lambda: {"fr": "fr_core_news_sm"},
        description="spaCy NER models for other languages, by ISO 639-1 code ({} for none). A text part in a "
        "language without a model gets no NER, only the patterns (docs/classification.md).",
    )
    compiled_ner: bool = Field(
        default=True,
        description="Kept for old files: the same switch as ``fast_paths.compiled_ner`` (false in either "
        "place runs spaCy's component as it is); read the effective value there.",
    )
    renew_after_unseen: int = Field(
        default=1_000_000,
        ge=10_000,
        description="Strings of words the NER model never saw (amounts, ids) after which its pipeline is "
        "loaded again in the background: spaCy's tables keep a cell for every such word until then "
        "(docs/classification.md). Lower: less memory, a renewal (about 2 s of CPU) more often.",
    )
    timeout_s: float = Field(default=10.0, gt=0)
    workers: int | None = Field(default=None, ge=1)
    max_chars: int = Field(default=200_000, ge=1)


class Telemetry(_Strict):
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces."
    )
    otlp_headers_env: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="Variable holding OTLP headers (k=v,k2=v2)."
    )
    service_name: str = "vaultroute-gateway"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = Field(
        default=True,
        description="One INFO line per HTTP request (method, route template, status, duration). The audit "
        "trail already keeps a record of every completion request; at high rates, turning this off saves "
        "a few percent of the gateway's CPU.",
    )


class CacheSettings(_Strict):
    """The response cache's operation; what may be cached is the policy's (route ``cache``)."""

    timeout_s: float = Field(default=0.1, gt=0, le=5, description="Longest wait on the cache store per call.")
    retry_s: float = Field(default=2.0, ge=0, le=300, description="After a store failure, skip it this long.")
    key_prefix: str = Field(default="gw:c:", pattern=r"^[A-Za-z0-9:_.-]{1,64}$", description="Redis key prefix.")
    memory_entries: int = Field(default=10_000, ge=1, description="Entries of the in-process cache (no Redis).")


class Config(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    policy: str = "policies/default.yaml"
    database_url: str = "sqlite:///var/gateway.db"
    redis_url: str | None = None
    var_dir: str = "var"
    model_cache_dir: str | None = None
    dev_key: bool = Field(default=False, description="Create and print a development API key at start.")
    policy_watch_s: float = Field(default=2.0, ge=0, description="Poll the policy file; 0 turns it off.")
    keys: list[StaticKey] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    telemetry: Telemetry = Field(default_factory=Telemetry)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)  # docs/resilience.md
    fast_paths: FastPaths = Field(default_factory=FastPaths)  # gateway/fastpaths.py, docs/performance.md

    @model_validator(mode="before")
    @classmethod
    def _one_ner_switch(cls, data: object) -> object:
        """``classifier.compiled_ner`` (older files) and ``fast_paths.compiled_ner`` are one switch:
        false in either place (or ``GATEWAY_FAST_PATHS=off``) turns it off in both."""
        if not isinstance(data, dict):
            return data
        classifier, fast = data.get("classifier"), data.get("fast_paths")
        if isinstance(classifier, BaseModel):
            classifier = classifier.model_dump()
        if isinstance(fast, BaseModel):
            fast = fast.model_dump()
        classifier = dict(classifier) if isinstance(classifier, dict) else classifier
        fast = dict(fast) if isinstance(fast, dict) else ({} if fast is None else fast)
        if not isinstance(classifier, dict | None) or not isinstance(fast, dict):
            return data  # the wrong shape: validation says where
        on = (classifier or {}).get("compiled_ner", True) is not False and fast.get("compiled_ner", True) is not False
        on = on and not libraries_forced()
        fast["compiled_ner"] = on
        data = {**data, "fast_paths": fast}
        if classifier is not None or not on:
            data["classifier"] = {**(classifier or {}), "compiled_ner": on}
        return data

    @property
    def model_cache(self) -> Path:
        return Path(self.model_cache_dir or Path(self.var_dir) / "models")


_ENV = {
    "GATEWAY_POLICY": "policy",
    "DATABASE_URL": "database_url",
    "REDIS_URL": "redis_url",
    "GATEWAY_HOST": "host",
    "GATEWAY_PORT": "port",
}


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


def load_config(
    path: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    environ = os.environ if environ is None else environ
    path = path or environ.get("GATEWAY_CONFIG")
    data: dict[str, object] = {}
    positions: dict[tuple[str | int, ...], tuple[int, int]] = {}
    if path:
        try:
            source = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from None
        try:
            parsed, positions = parse(source, path)
        except PolicyError as exc:
            raise ConfigError(str(exc)) from None
        if parsed is not None and not isinstance(parsed, dict):
            raise ConfigError(f"{path}:1:1: the configuration must be a mapping")
        data.update(parsed or {})
    for env_name, field_name in _ENV.items():
        if environ.get(env_name):
            data[field_name] = environ[env_name]
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if libraries_forced(environ):  # GATEWAY_FAST_PATHS=off: every fast path back to its library
        fast = data.get("fast_paths")
        data["fast_paths"] = {**(fast if isinstance(fast, dict) else {}), **dict.fromkeys(SWITCHES, False)}
        classifier = data.get("classifier")
        if isinstance(classifier, dict):
            data["classifier"] = {**classifier, "compiled_ner": False}
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line, col = position_of(positions, loc)
            lines.append(f"{path or '<config>'}:{line}:{col}: {dotted(loc)}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


__all__ = ["Config", "ConfigError", "FastPaths", "StaticKey", "load_config", "yaml"]
