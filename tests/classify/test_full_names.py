"""Names in running text with no title or key word before them (issue 17, quality part).

Each form a bank's text offers is checked twice: the recognizer finds the name itself, and
the whole classifier decides the prompt ``confidential`` (the CONTRACT's example levels).
The counter-examples are the places, firms and words that share the shape and must stay
``internal``.
"""

from __future__ import annotations

import pytest

from gateway.classify.recognizers.full_name import FullNameRecognizer
from gateway.classify.recognizers.given_names import GIVEN_NAMES
from gateway.classify.recognizers.person import PersonNameRecognizer
from gateway.classify.recognizers.proper_pair import ProperNamePairRecognizer, dominant_language
from tests.classify.conftest import Classify, load_bench_module

EVAL = load_bench_module("classify_eval")
CONFIDENTIAL = EVAL.LEVELS.index("confidential")
INTERNAL = EVAL.LEVELS.index("internal")


def level(classify: Classify, texts: list[str] | str) -> int:
    result = classify(texts)
    assert result.error is None, result.error
    return int(EVAL.level_of(result.entity_types))


def full_names(text: str) -> set[str]:
    return {text[start:end] for start, end, _ in FullNameRecognizer().scan(text)}


# (form, text, the name found)
NAMES = [
    ("de-given-surname", "Überweisung an Jörg Brandt bitte heute prüfen.", "Jörg Brandt"),
    ("de-caps-surname", "Rückfrage von Sabine KRÜGER zur Gutschrift.", "Sabine KRÜGER"),
    ("it-given-surname", "Rimborso per Giulia Esposito di 300 EUR.", "Giulia Esposito"),
    ("it-surname-first", "Bonifico disposto da Esposito Anna ieri.", "Esposito Anna"),
    ("es-two-surnames", "Pago de María José García López pendiente.", "María José García"),
    ("nl-particle", "Overboeking naar Jan van der Berg is mislukt.", "Jan van der Berg"),
    ("nl-initials", "P. Jansen heeft gisteren gebeld.", "P. Jansen"),
    ("de-initials", "Gespräch mit A. Müller am Montag.", "A. Müller"),
    ("foreign-letters", "Margrethe Sørensen asked about the fee.", "Margrethe Sørensen"),
    ("foreign-letters-pl", "Przelew od Łukasz Wiśniewski został zwrócony.", "Łukasz Wiśniewski"),
    ("greeting-de", "Hallo Anna,\nanbei der Auszug.", "Anna"),
    ("greeting-en", "Dear Kuyra,\nplease find the statement attached.", "Kuyra"),
    ("own-name", "My name is Liva and I lost my card.", "Liva"),
    ("own-name-it", "Buongiorno, mi chiamo Ugo Tarantino.", "Ugo Tarantino"),
    ("vocative", "Kuyra, can I please speak to your boss?", "Kuyra"),
]


@pytest.mark.parametrize(("form", "text", "name"), NAMES, ids=[n[0] for n in NAMES])
def test_full_name_forms(classify: Classify, form: str, text: str, name: str) -> None:
    assert name in full_names(text)
    assert level(classify, text) >= CONFIDENTIAL, text


# Capitalised runs inside a sentence of a language that writes its nouns in lower case, and
# German names after a preposition without an article: names no given-name list holds.
PAIRS = [
    ("es", "Confirme el pago de Lisandro Ferrer Vidal antes del viernes.", "Lisandro Ferrer Vidal"),
    ("it", "Verifica il bonifico per conto di Ottavio Gentile entro oggi.", "Ottavio Gentile"),
    ("nl", "Controleer de betaling van Joep Mertens aan de bank.", "Joep Mertens"),
    ("pt", "Confirme a transferência para Severino Tavares hoje.", "Severino Tavares"),
    ("de", "Bitte die Zahlung von Gerlinde Hövelmann prüfen.", "Gerlinde Hövelmann"),
    ("de-laut", "Laut Adelheid Gute wurde die Zahlung doppelt gebucht.", "Adelheid Gute"),
    ("de-opening", "Walfried Jopich hat gestern wegen der Kreditkarte angerufen.", "Walfried Jopich"),
    ("es-opening", "Sancho Pintor ha llamado por la tarjeta bloqueada.", "Sancho Pintor"),
    ("nl-particle", "Volgens Maya de Keijzer is de afschrijving niet dubbel.", "Maya de Keijzer"),
]


@pytest.mark.parametrize(("language", "text", "name"), PAIRS, ids=[p[0] for p in PAIRS])
def test_capitalised_runs_where_nouns_are_lower_case(classify: Classify, language: str, text: str, name: str) -> None:
    found = {text[start:end] for start, end, _ in ProperNamePairRecognizer().scan(text)}
    assert name in found
    assert level(classify, text) >= CONFIDENTIAL, text


CHINESE = [
    ("请回电李娜，关于房贷申请。", "李娜"),
    ("请给张伟转账五千元。", "张伟"),
    ("已通知陈静办理手续。", "陈静"),
    ("刘洋的新收货地址已更新。", "刘洋"),
    ("周五十点和刘海燕开会。", "刘海燕"),
    ("据何健说，这笔扣款重复了。", "何健"),
    ("赵杨打电话询问被冻结的卡。", "赵杨"),
    ("我和翁小红谈了房贷的事。", "翁小红"),
]


@pytest.mark.parametrize(("text", "name"), CHINESE)
def test_chinese_names_after_a_verb_or_before_a_possession(classify: Classify, text: str, name: str) -> None:
    assert name in {text[start:end] for start, end, _ in PersonNameRecognizer().scan(text)}
    assert level(classify, text) >= CONFIDENTIAL, text


@pytest.mark.parametrize(
    "text",
    [
        "il sig. Rossi ha chiamato stamattina.",
        "Ho parlato con la dott.ssa Bianchi ieri.",
        "el sr. Pérez llamó por el préstamo.",
        "de dhr. Jansen belde over zijn hypotheek.",
    ],
)
def test_lower_case_abbreviated_titles(classify: Classify, text: str) -> None:
    assert level(classify, text) >= CONFIDENTIAL, text


@pytest.mark.parametrize(
    "text",
    [
        "Richiamare il cliente al 22 187936 oggi.",
        "They're not answering at 467 2656.",
    ],
)
def test_local_phone_numbers(classify: Classify, text: str) -> None:
    assert "PHONE_NUMBER" in classify(text).entity_types


# Places, firms and ordinary words in the same shapes.
CLEAN = [
    "Die Otto Schmidt GmbH zahlt die Rechnung am Montag.",
    "Traduis les horaires de l'agence de Sainte Audrey-la-Forêt en anglais.",
    "Traduci gli orari della filiale di Borgo San Lorenzo in inglese.",
    "Avvisa la filiale di Bagnolo Piemonte.",
    "Informe a la oficina de Villanueva Pardo.",
    "Elenca i rischi della linea di credito di Giordano Ferrari S.p.A. di 500.000 EUR.",
    "Enumera los riesgos de la línea de crédito de Construcciones López S.L. por 300.000 EUR.",
    "Vertaal de openingstijden van het kantoor in Den Haag naar het Engels.",
    "Geef de risico's van de kredietfaciliteit van Veen Bosch & Keuning van 120.000 EUR.",
    "He lives on the north side of Katherine Drive.",
    "He lives on the north side of Logan Viaduct.",
    "Bei Fragen wenden Sie sich an Ihre Filiale.",
    "Beschreibe die Vorteile von Private Banking für Neukunden.",
    "Die Drewes hat ihre Kreditlinie erhöht.",
    "List the risks of the Patterson, Shaw and Steele loan facility of USD 564,508.",
    "Het bedrijf De Persgroep heeft de kredietlijn verhoogd.",
    "Hallo Team,\nbitte prüft die Zahlen.",
    "However, can you summarise the report?",
    "请向银行申请贷款。",
    "公司的账户余额不足。",
    "U.S. Treasury yields rose by 12 basis points.",
]


@pytest.mark.parametrize("text", CLEAN)
def test_places_firms_and_words_stay_internal(classify: Classify, text: str) -> None:
    assert level(classify, text) == INTERNAL, text


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Confirme el pago de la cuota del préstamo.", "romance_nl"),
        ("Controleer de betaling van de klant.", "romance_nl"),
        ("Bitte prüfen Sie die Zahlung für den Kunden.", "de"),
        ("Please check the payment for the customer.", "en"),
        ("Merci de vérifier le paiement pour le client.", "fr"),
        ("Rows: 1, 2, 3", None),
    ],
)
def test_function_words_tell_the_language(text: str, language: str | None) -> None:
    assert dominant_language(text) == language


def test_the_runs_are_not_read_in_english_or_french() -> None:
    """English and French have NER models and capitalise titles of things: no run rule there."""
    for text in ("Please review the Asset Liability Committee minutes.", "Merci de relire le Comité Exécutif."):
        assert list(ProperNamePairRecognizer().scan(text)) == []


def test_given_names_hold_no_ambiguous_words() -> None:
    for word in ("Can", "Per", "Will", "May", "Mark", "Grant", "Jordan", "Austin", "Franco", "Floor"):
        assert word not in GIVEN_NAMES


@pytest.mark.parametrize(
    "text",
    [
        "Classify this ticket: 'Troy Lane says the app shows the wrong balance.'",
        "I met Debra Wells at the branch today; she wants a joint account.",
    ],
)
def test_surnames_that_are_place_nouns_stay_names(classify: Classify, text: str) -> None:
    """A place noun that is also a surname ends a street's name only after a preposition of place."""
    assert level(classify, text) >= CONFIDENTIAL, text
