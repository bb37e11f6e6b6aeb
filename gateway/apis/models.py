"""``GET /v1/models``: the virtual models a key may use, and the APIs each serves.

OpenAI's list shape (``{"object": "list", "data": [{"id", "object": "model",
"created", "owned_by"}]}``), each model with two fields of ours that clients
ignore: ``tier`` and ``apis``, the APIs it serves (``chat``, ``embeddings``,
``responses``, ``messages``). A model serves an API when some route that a
request of that API for that model can reach, in the policy's order, has a
target whose ``task`` serves it: the Responses and Messages APIs go to chat
models, embeddings to embedding models. Which route a request takes also
depends on its level, so ``apis`` says what may be served, and the level
still decides where; the policy's invariant is untouched.
``?api=embeddings`` lists only the models that serve that API.
"""

from __future__ import annotations

from typing import Any, get_args

from gateway.errors import InvalidRequest
from gateway.keys import Principal
from gateway.policy.engine import serves
from gateway.policy.model import Api, Policy, When

APIS: tuple[str, ...] = get_args(Api)


def models_list(policy: Policy, caller: Principal, api: str | None = None) -> dict[str, Any]:
    if api is not None and api not in APIS:
        raise InvalidRequest(f"Invalid value for 'api': one of {', '.join(APIS)}.", param="api")
    data = []
    for name, model in policy.models.items():
        if not caller.may_use(name):
            continue
        apis = [each for each in APIS if _served(policy, name, model.tier, each)]
        if api is None or api in apis:
            entry = {"id": name, "object": "model", "created": 0, "owned_by": policy.name, "tier": model.tier}
            data.append({**entry, "apis": apis})
    return {"object": "list", "data": data}


def _served(policy: Policy, model: str, tier: str, api: str) -> bool:
    """Whether a request of ``api`` for ``model`` can reach a route with a target that serves it."""
    for route in policy.routes:
        if not _may_match(route.when, model, tier, api):
            continue
        if any(serves(policy.targets[t], api) for t in route.targets or ()):
            return True
        if _always(route.when):  # every such request stops here: the routes below are never reached
            return False
    return False


def _may_match(when: When, model: str, tier: str, api: str) -> bool:
    own = (
        (when.api is None or api in when.api)
        and (when.model is None or model in when.model)
        and (when.tier is None or tier in when.tier)
    )
    return own and (when.any_of is None or any(_may_match(g, model, tier, api) for g in when.any_of))


def _always(when: When) -> bool:
    """Whether ``when`` holds for every request that ``_may_match`` lets through (no other condition)."""
    others = when.model_dump(exclude={"api", "model", "tier"}, exclude_none=True)
    return not others
