"""Team budgets hold for embeddings as for chat: spent, the external embedding model is left out."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.embeddings.test_gateway import POLICY, embedding_bodies
from tests.upstreams.gateway_between import RunningGateway, gateway_between

BUDGETED = (
    POLICY
    + """
budgets:
  - team: tests
    monthly_usd: 0.001
    on_exceed: on_prem_only
"""
)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("budget-embeddings"), BUDGETED) as gateway:
        yield gateway


def test_a_spent_budget_keeps_embeddings_on_prem(running: RunningGateway) -> None:
    client = openai.OpenAI(base_url=running.url + "/v1", api_key=running.key, max_retries=0)
    text = " ".join(["word"] * 30)  # 30 tokens at 20 USD per million: 0.0006 USD, within 0.001
    first = client.embeddings.with_raw_response.create(model="bank-embed", input=[text])
    assert first.headers["x-gateway-target"] == "ext-embed"
    second = client.embeddings.with_raw_response.create(model="bank-embed", input=[text + " again"])
    assert second.headers["x-gateway-target"] == "onprem-embed"  # another 0.0006 would pass the budget
    assert len(embedding_bodies(running.external)) == 1
