"""LangChain's ``OpenAIEmbeddings`` against a running gateway, unmodified: by default it cuts texts with
tiktoken and sends token ids, which the gateway decodes, classifies and sends on as text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_openai import OpenAIEmbeddings

from tests.embeddings.test_gateway import CARD, POLICY, embedding_bodies
from tests.upstreams.embeddings_reply import vector_for
from tests.upstreams.gateway_between import RunningGateway, gateway_between


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("langchain-embeddings"), POLICY) as gateway:
        yield gateway


def embeddings(running: RunningGateway, **options: object) -> OpenAIEmbeddings:
    return OpenAIEmbeddings(
        model="bank-embed", base_url=running.url + "/v1", api_key=running.key, max_retries=0, **options
    )  # type: ignore[arg-type]


def test_embed_documents_and_query_with_langchains_defaults(running: RunningGateway) -> None:
    running.external.reset()
    documents = ["Mortgage rates rose in March.", "The branch opens at nine."]
    vectors = embeddings(running).embed_documents(documents)  # token ids on the wire (tiktoken, offline)
    assert vectors == [vector_for(text) for text in documents]
    assert [body["input"] for body in embedding_bodies(running.external)] == [documents]
    assert embeddings(running).embed_query("What are the opening hours?") == vector_for("What are the opening hours?")


def test_plain_text_and_a_card_that_stays_on_prem(running: RunningGateway) -> None:
    running.external.reset()
    running.onprem.reset()
    client = embeddings(running, check_embedding_ctx_length=False)  # strings on the wire
    assert client.embed_documents(["Plain text"]) == [vector_for("Plain text")]
    assert embeddings(running).embed_documents([CARD]) == [vector_for(CARD)]  # token ids: read all the same
    assert all("4111" not in str(body) for body in embedding_bodies(running.external))
    assert embedding_bodies(running.onprem)[0]["input"] == [CARD]
