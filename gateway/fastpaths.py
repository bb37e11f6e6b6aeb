"""The fast paths: the gateway's own re-implementations of what a library does, each with its switch.

Three pieces of the request path replace a library for speed (``docs/performance.md``
says what each buys; ``bench/fast_paths.py`` measures each side by side with its library,
``bench/results/fast_paths.md``):

==================  ==============================================  =====================================
switch              fast path                                       library it replaces when off
==================  ==============================================  =====================================
``http_client``     ``adapters/httpclient.py`` (+ ``httpresponse``)  aiohttp (``adapters/libraryclient.py``)
``compiled_ner``    ``gateway/classify/fastner`` (``CompiledNer``)  spaCy's NER component
``retry_loop``      ``gateway/resilience/retry.Retrying``           tenacity (``resilience/tenacity_retry``)
==================  ==============================================  =====================================

Each is on by default, set in the configuration's ``fast_paths:`` section, and
``GATEWAY_FAST_PATHS=off`` in the environment turns every one of them off,
whatever the file says: CI runs the suite once that way (``make test-libraries``),
so that the libraries stay a working way back. Each fast path has an oracle test
(pytest marker ``oracle``, ``make oracles``) that runs it against its library on
the same inputs; a bump of httptools, spaCy, thinc, a spaCy model, aiohttp or
tenacity re-runs them. A fast path that stops buying enough is removed, as the
one-write-per-response transport was (``docs/performance.md``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV = "GATEWAY_FAST_PATHS"
SWITCHES = ("http_client", "compiled_ner", "retry_loop")


def libraries_forced(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``GATEWAY_FAST_PATHS=off`` (or ``0``, ``false``, ``no``) asks for the libraries everywhere."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    return value.strip().lower() in ("off", "0", "false", "no")


class FastPaths(BaseModel):
    """The ``fast_paths:`` section: one boolean per fast path (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    http_client: bool = Field(
        default=True,
        description="OpenAI-compatible upstreams over the gateway's own HTTP/1.1 client; false: aiohttp.",
    )
    compiled_ner: bool = Field(
        default=True,
        description="The NER network through the gateway's compiled evaluator (same entities); false: spaCy's.",
    )
    retry_loop: bool = Field(
        default=True, description="Retries by the gateway's own loop; false: the same schedule through tenacity."
    )

    @model_validator(mode="before")
    @classmethod
    def _environment_wins(cls, data: Any) -> Any:
        if libraries_forced() and isinstance(data, dict):
            return {**data, **dict.fromkeys(SWITCHES, False)}
        return data

    @classmethod
    def current(cls) -> FastPaths:
        """The defaults as the environment leaves them: what a component built without a config uses."""
        return cls.model_validate({})

    @classmethod
    def libraries(cls) -> FastPaths:
        """Every switch off."""
        return cls.model_validate(dict.fromkeys(SWITCHES, False))


__all__ = ["ENV", "SWITCHES", "FastPaths", "libraries_forced"]
