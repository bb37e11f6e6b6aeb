"""The running adapters behind the policy's targets.

Adapters are built from the target definitions and kept while a definition is
unchanged, so a policy reload that leaves a target alone does not reload its
model. ``unavailable`` tells the policy engine which targets cannot be used
right now, and why (a missing key, an adapter that failed to start).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from adapters.base import Adapter, ResponseLimits
from gateway.fastpaths import FastPaths
from gateway.policy.model import Policy, Target

log = logging.getLogger("gateway.targets")

AdapterFactory = Callable[[str, Target], Adapter]


def build_adapter(model_cache: Path, fast_paths: FastPaths | None = None) -> AdapterFactory:
    """The factory for real adapters; imports each kind only when a policy uses it. ``fast_paths``:
    the configuration's (its ``http_client`` picks the OpenAI-compatible adapter's HTTP client)."""
    fast_client = fast_paths.http_client if fast_paths is not None else None

    def factory(name: str, target: Target) -> Adapter:
        if target.task == "embeddings":
            return _embedder(name, target, model_cache, fast_client)
        if target.kind == "transformers":
            from adapters.local_models import resolve_model
            from adapters.transformers_local import TransformersAdapter

            return TransformersAdapter(resolve_model(target.model, model_cache))
        if target.kind == "openai_compatible":
            from adapters.openai_compatible import OpenAICompatibleAdapter

            assert target.api_base is not None
            key = os.environ.get(target.api_key_env) if target.api_key_env else None
            return OpenAICompatibleAdapter(
                target.api_base, target.model, api_key=key, timeout_s=target.timeout_s,
                connect_timeout_s=target.connect_timeout_s, limits=response_limits(target), fast_client=fast_client,
            )  # fmt: skip
        from adapters.litellm_client import LiteLLMAdapter

        return LiteLLMAdapter(
            target.model, api_key_env=target.api_key_env, api_base=target.api_base, timeout_s=target.timeout_s,
            connect_timeout_s=target.connect_timeout_s, limits=response_limits(target),
        )

    return factory


def _embedder(name: str, target: Target, model_cache: Path, fast_client: bool | None) -> Adapter:
    """An embedding target's adapter (``adapters/embeddings*.py``): the same three kinds as chat."""
    if target.kind == "transformers":
        from adapters.embeddings_local import LocalEmbeddingAdapter, resolve_embedding_model

        return LocalEmbeddingAdapter(resolve_embedding_model(target.model, model_cache), name=target.model)
    from adapters.embeddings_remote import LiteLLMEmbedder, OpenAICompatibleEmbedder

    if target.kind == "openai_compatible":
        assert target.api_base is not None
        key = os.environ.get(target.api_key_env) if target.api_key_env else None
        return OpenAICompatibleEmbedder(
            target.api_base, target.model, api_key=key, timeout_s=target.timeout_s,
            connect_timeout_s=target.connect_timeout_s, limits=response_limits(target), fast_client=fast_client,
        )  # fmt: skip
    return LiteLLMEmbedder(
        target.model, api_key_env=target.api_key_env, api_base=target.api_base, timeout_s=target.timeout_s,
        connect_timeout_s=target.connect_timeout_s, limits=response_limits(target),
    )  # fmt: skip


def response_limits(target: Target) -> ResponseLimits:
    """The adapter's view of the target's ``limits`` (the policy's, validated)."""
    return ResponseLimits(**target.limits.model_dump())


class TargetPool:
    def __init__(self, factory: AdapterFactory, environ: Mapping[str, str] | None = None) -> None:
        self._factory = factory
        self._environ = os.environ if environ is None else environ
        self._adapters: dict[str, tuple[Target, Adapter]] = {}
        self._failed: dict[str, str] = {}

    @property
    def adapters(self) -> dict[str, Adapter]:
        return {name: adapter for name, (_, adapter) in self._adapters.items()}

    async def sync(self, policy: Policy) -> None:
        """Start adapters for new or changed targets; close those no longer used."""
        for name, target in policy.targets.items():
            current = self._adapters.get(name)
            if current is not None and current[0] == target:
                continue
            if self._needs_env(target):
                self._failed[name] = f"{target.api_key_env} is not set"
                continue
            try:
                # Building may convert model weights: keep it off the event loop.
                adapter = await asyncio.to_thread(self._factory, name, target)
                await adapter.start()
            except Exception as exc:  # noqa: BLE001 - one broken target must not stop the others
                log.error("target %s could not start: %s", name, exc)
                self._failed[name] = f"failed to start: {type(exc).__name__}"
                continue
            self._failed.pop(name, None)
            self._adapters[name] = (target, adapter)
            if current is not None:
                await current[1].close()
        for name in list(self._adapters):
            if name not in policy.targets:
                _, adapter = self._adapters.pop(name)
                await adapter.close()

    def _needs_env(self, target: Target) -> bool:
        return target.requires_env and not self._environ.get(target.api_key_env or "")

    def unavailable(self, policy: Policy) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, target in policy.targets.items():
            if name in self._failed:
                out[name] = self._failed[name]
            elif name not in self._adapters:
                out[name] = "not started"
            elif self._adapters[name][0] != target:
                out[name] = "definition changed; restarting"
        return out

    async def readiness(self) -> dict[str, bool]:
        return {name: await adapter.ready() for name, (_, adapter) in self._adapters.items()}

    async def close(self) -> None:
        for _, adapter in self._adapters.values():
            await adapter.close()
        self._adapters.clear()
