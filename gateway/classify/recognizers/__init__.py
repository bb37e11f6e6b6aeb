"""Our recognizers, one Presidio recognizer class per module noun.

| entity | recognizer | module |
|---|---|---|
| CREDIT_CARD | ``CreditCardRecognizer`` | payment |
| CN_BANK_CARD | ``CnBankCardRecognizer`` | payment |
| IBAN_CODE | ``IbanRecognizer`` | banking |
| SWIFT_CODE | ``SwiftCodeRecognizer`` | banking |
| CN_RESIDENT_ID | ``CnResidentIdRecognizer`` | national_id |
| US_SSN | ``UsSsnRecognizer`` | national_id |
| PHONE_NUMBER | ``PhoneRecognizer`` | phone |
| CN_PHONE | ``CnPhoneRecognizer`` | phone |
| STREET_ADDRESS | ``StreetAddressRecognizer`` | address |
| PERSON | ``PersonNameRecognizer`` (titles, salutations, signatures; Chinese, Japanese, Korean) | person |
| PERSON | ``StructuredNameRecognizer`` (JSON keys, CSV columns, ``SURNAME, Given``) | structured |
| PERSON | ``FullNameRecognizer`` (given name + surname, foreign letters, greetings, own name) | full_name |
| PERSON | ``ProperNamePairRecognizer`` (capitalised runs in es, it, nl, pt sentences) | proper_pair |
| EMAIL_ADDRESS | ``OfflineEmailRecognizer`` | web |
| the number types above, UNDECODABLE_CONTENT | ``NumberFormsRecognizer`` (spelled, escaped, encoded) | number_forms |
"""

from __future__ import annotations

from collections.abc import Callable

from presidio_analyzer import EntityRecognizer

from gateway.classify.entities import OUR_ENTITIES
from gateway.classify.recognizers.address import StreetAddressRecognizer
from gateway.classify.recognizers.banking import IbanRecognizer, SwiftCodeRecognizer
from gateway.classify.recognizers.full_name import FullNameRecognizer
from gateway.classify.recognizers.national_id import CnResidentIdRecognizer, UsSsnRecognizer
from gateway.classify.recognizers.number_forms import NumberFormsRecognizer
from gateway.classify.recognizers.payment import CnBankCardRecognizer, CreditCardRecognizer
from gateway.classify.recognizers.person import PersonNameRecognizer
from gateway.classify.recognizers.phone import CnPhoneRecognizer, PhoneRecognizer
from gateway.classify.recognizers.proper_pair import ProperNamePairRecognizer
from gateway.classify.recognizers.structured import StructuredNameRecognizer
from gateway.classify.recognizers.web import OfflineEmailRecognizer

OUR_RECOGNIZERS: tuple[Callable[..., EntityRecognizer], ...] = (
    CreditCardRecognizer,
    CnBankCardRecognizer,
    IbanRecognizer,
    SwiftCodeRecognizer,
    CnResidentIdRecognizer,
    UsSsnRecognizer,
    NumberFormsRecognizer,
    PhoneRecognizer,
    CnPhoneRecognizer,
    StreetAddressRecognizer,
    PersonNameRecognizer,
    StructuredNameRecognizer,
    FullNameRecognizer,
    ProperNamePairRecognizer,
    OfflineEmailRecognizer,
)


def our_recognizers(language: str = "en") -> list[EntityRecognizer]:
    """A fresh instance of each of our recognizers."""
    return [cls(supported_language=language) for cls in OUR_RECOGNIZERS]


__all__ = [
    "OUR_ENTITIES",
    "OUR_RECOGNIZERS",
    "CnBankCardRecognizer",
    "CnPhoneRecognizer",
    "CnResidentIdRecognizer",
    "CreditCardRecognizer",
    "FullNameRecognizer",
    "IbanRecognizer",
    "NumberFormsRecognizer",
    "OfflineEmailRecognizer",
    "PersonNameRecognizer",
    "PhoneRecognizer",
    "ProperNamePairRecognizer",
    "StreetAddressRecognizer",
    "StructuredNameRecognizer",
    "SwiftCodeRecognizer",
    "UsSsnRecognizer",
    "our_recognizers",
]
