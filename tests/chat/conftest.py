"""Chat Completions conformance fixtures: the real detection engine, shared for the session."""

from __future__ import annotations

import pytest

from gateway.classify.engine import DetectionEngine


@pytest.fixture(scope="session")
def detection_engine() -> DetectionEngine:
    return DetectionEngine()
