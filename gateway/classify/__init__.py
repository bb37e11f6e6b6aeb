"""Sensitivity classification: which entity types a request's text contains.

``PresidioClassifier`` implements the ``Classifier`` protocol (``base.py``);
``extract_texts`` collects the texts of an OpenAI chat request;
``KNOWN_ENTITIES`` is every entity type the classifier can report, for policy
validation (a policy may also define its own through its recognizers).
See ``docs/classification.md``.
"""

from gateway.classify.base import (
    Classification,
    Classifier,
    Detection,
    PolicyRecognizer,
)
from gateway.classify.entities import KNOWN_ENTITIES
from gateway.classify.extract import extract_texts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from gateway.classify.presidio_classifier import PresidioClassifier


def __getattr__(name: str) -> object:
    # Presidio and spaCy take seconds to import: only when a classifier is built.
    if name == "PresidioClassifier":
        from gateway.classify.presidio_classifier import PresidioClassifier

        return PresidioClassifier
    raise AttributeError(name)


__all__ = [
    "KNOWN_ENTITIES",
    "Classification",
    "Classifier",
    "Detection",
    "PolicyRecognizer",
    "PresidioClassifier",
    "extract_texts",
]
