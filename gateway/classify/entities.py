"""The entity types the classifier can report: names only, nothing loaded.

Entity names are part of the policy language; policy validation reads
``KNOWN_ENTITIES`` from here without paying for Presidio or spaCy.
"""

from __future__ import annotations

# Content that looks encoded and cannot be read (gateway/classify/decode.py); the policy's
# ``classification.on_undecodable`` says what level it gives.
UNDECODABLE_CONTENT = "UNDECODABLE_CONTENT"
# Detected by our recognizers (gateway/classify/recognizers).
OUR_ENTITIES = frozenset(
    {
        "CREDIT_CARD", "CN_BANK_CARD", "IBAN_CODE", "SWIFT_CODE", "CN_RESIDENT_ID", "US_SSN",
        "PHONE_NUMBER", "CN_PHONE", "STREET_ADDRESS", "PERSON", "EMAIL_ADDRESS", UNDECODABLE_CONTENT,
    }
)  # fmt: skip
# Detected by the spaCy NER model.
NER_ENTITIES = ("PERSON", "LOCATION", "NRP", "DATE_TIME")
# Presidio's own recognizers, kept as they are.
PRESIDIO_ENTITIES = frozenset(
    {
        "ABA_ROUTING_NUMBER", "CRYPTO", "IP_ADDRESS", "MEDICAL_LICENSE", "UK_NHS", "UK_NINO",
        "URL", "US_BANK_NUMBER", "US_ITIN", "US_DRIVER_LICENSE", "US_PASSPORT",
    }
)  # fmt: skip
KNOWN_ENTITIES: frozenset[str] = OUR_ENTITIES | PRESIDIO_ENTITIES | frozenset(NER_ENTITIES)
