"""Every language the bank writes in: names, addresses and phones found, ordinary text left alone.

Levels are those of the CONTRACT's example policy (``bench/classify_eval.py``): the
prompts with personal data must reach ``confidential``; the clean ones must stay at
``internal`` (the English model used to make people of German nouns and Spanish verbs).
"""

from __future__ import annotations

import pytest

from gateway.classify.engine import DetectionEngine
from gateway.classify.language import LanguageDetector
from tests.classify.conftest import Classify, load_bench_module

EVAL = load_bench_module("classify_eval")
CONFIDENTIAL = EVAL.LEVELS.index("confidential")
INTERNAL = EVAL.LEVELS.index("internal")


def level(classify: Classify, text: str) -> int:
    result = classify([text])
    assert result.error is None, result.error
    return int(EVAL.level_of(result.entity_types))


PERSONAL = {
    # titles and salutations, a surname alone
    "de-title": "Sehr geehrte Frau Weißgerber, anbei erhalten Sie den Kontoauszug.",
    "de-intro": "Die Kontoinhaberin Hannelore Brückner bittet um eine neue Karte.",
    "de-signature": "Bitte um Rückruf.\nMit freundlichen Grüßen\nJürgen Obermaier\nFiliale Ulm",
    "fr-title": "Bonjour Mme Lefèvre, votre dossier est complet.",
    "fr-ner": "Merci de rappeler Sébastien Marchand concernant son prêt.",
    "es-title": "Estimado Sr. Quintana: le adjuntamos el extracto.",
    "es-intro": "La titular Remedios Albarracín solicita un duplicado.",
    "it-title": "Gentile Sig.ra Bonfiglio, la sua pratica è approvata.",
    "it-intro": "L'intestatario Gianluca Sbarbaro chiede un estratto conto.",
    "nl-title": "Geachte heer van Oosterhout, hierbij uw afschrift.",
    "nl-intro": "Rekeninghouder Marieke Dijkstra vraagt een nieuwe pas.",
    "ja-honorific": "高橋 健太様のお問い合わせに返信してください。",
    "ja-intro": "口座名義人：中村美咲、住所変更の依頼です。",
    "zh-intro": "请联系客户刘建华核实身份。",
    "ko-honorific": "박지훈님께 연락 부탁드립니다.",
    "en-non-ascii": "Please update the records of Margrethe Sørensen before the review.",
    "en-salutation": "Dear Ms Okonkwo,\nplease find the statement attached.",
    # structured names
    "csv-header": "Check these rows:\nname,iban_country\nAurelio Benedetti,IT\nKatarzyna Wiśniewska,PL\n",
    "csv-german": "Kontoinhaber;Betrag\nGöran Lindqvist;1200\nBeate Zuckermann;80\n",
    "json-key": 'Deduplicate: {"id": 4411, "account_holder": "Wilhelmina Achterberg", "status": "open"}',
    "json-japanese": '{"氏名": "佐藤 花子", "支店": "新宿"}',
    "caps-register": 'Rows:\n"VANDERBEEK, Annelies";1200\n"OYELARAN, Tunde";80\n',
    "lower-case": "spoke with jan krčmář about the overdraft",
    "key-value": "Beneficiary: Ólafur Sigurðsson\nAmount: 1,200",
    # addresses in sentences
    "addr-fi-in-en": "Send the new card to Suensaarenkatu 22, 98570 Aapajärvi, please.",
    "addr-nl-in-de": "Der Kunde ist nach Keizersgracht 123, 1015 CJ Amsterdam umgezogen.",
    "addr-es": "Nueva dirección: Calle de Alcalá 48, 28014 Madrid.",
    "addr-it": "Il cliente si è trasferito in Via Garibaldi, 12, 10122, Torino (TO).",
    "addr-uk-in-fr": "Le client habite au 10 Downing Street, London SW1A 2AA.",
    "addr-jp": "お客様は東京都千代田区丸の内1丁目1番1号に転居しました。",
    "addr-cz-in-nl": "De klant is verhuisd naar Na Kopci 694, 533 11 Zdechovice.",
    # short local phones next to a context word
    "phone-de": "Bitte heute unter 448 91 830 zurückrufen.",
    "phone-es": "Devolver la llamada al 73 196 188 hoy.",
    "phone-ja": "本日中に9747 6578へ折り返してください。",
}

CLEAN = {
    "de": "Beschreibe den Rückzahlungsprozess für Ratenkredite in fünf Schritten.",
    "de-nouns": "Formuliere diesen Absatz verständlicher: Geld Mädchen waschen leicht Rad Schnee hoch.",
    "es": "Calcula la cuota mensual de un préstamo de 20.000 EUR al 4,5 % a 10 años.",
    "fr": "Rédige une annonce interne sur la migration de la plateforme de paiement.",
    "it": "Spiega la differenza tra capitale di classe 1 e di classe 2.",
    "nl": "Vat het liquiditeitsrapport van kwartaal 3 samen.",
    "ja": "第3四半期の流動性レポートを要約してください。",
    "zh": "巴塞尔协议III的杠杆率衡量什么？",
    "en-company": "List the risks of the Anderson LLC loan facility of USD 80,338.",
    "fr-company": "Liste les risques de la ligne de crédit de Leclerc Techer SA de 186.071 EUR.",
    "csv-no-names": "bank_name,country\nDeutsche Bank,DE\nBanco Santander,ES\n",
}


@pytest.mark.parametrize("form", sorted(PERSONAL))
def test_personal_data_is_confidential(classify: Classify, form: str) -> None:
    assert level(classify, PERSONAL[form]) >= CONFIDENTIAL, PERSONAL[form]


@pytest.mark.parametrize("form", sorted(CLEAN))
def test_ordinary_text_stays_internal(classify: Classify, form: str) -> None:
    assert level(classify, CLEAN[form]) == INTERNAL, CLEAN[form]


def test_structured_names_are_located(classify: Classify) -> None:
    text = PERSONAL["csv-header"]
    found = {text[d.start : d.end] for d in classify([text]).detections if d.entity_type == "PERSON"}
    assert {"Aurelio Benedetti", "Katarzyna Wiśniewska"} <= found


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Bitte prüfen Sie die Überweisung an die neue Kontonummer.", "de"),
        ("Summarise the quarterly liquidity report for the committee.", "en"),
        ("Merci de vérifier le virement avant vendredi.", "fr"),
        ("Revisa la transferencia antes del viernes, por favor.", "es"),
        ("第3四半期の報告書を要約してください。", "ja"),
        ("请总结第三季度的流动性报告。", "zh"),
        ("name,iban\nJohn Smith,DE89", "und"),
    ],
)
def test_language_of_a_text(text: str, language: str) -> None:
    segments = LanguageDetector().segments(text)
    assert [s.language for s in segments] == [language]


def test_mixed_text_is_cut_by_paragraph() -> None:
    text = "Hi team,\n\nBitte prüfen Sie die Überweisung von gestern.\n\nThanks, please review the attached file."
    assert [s.language for s in LanguageDetector().segments(text)] == ["und", "de", "en"]


def test_english_ner_does_not_read_german(engine: DetectionEngine) -> None:
    """The German paragraph is blanked for the English model; the English one is read."""
    text = "Beschreibe den Rückzahlungsprozess und die Kündigungsfrist.\n\nPlease call Margaret Thornton today."
    found = engine.ner_pass(text, 0.5)
    people = {text[r.start : r.end] for r in found if r.entity_type == "PERSON"}
    assert people == {"Margaret Thornton"}


def test_french_model_reads_french(engine: DetectionEngine) -> None:
    assert "fr" in engine.other_nlp
    text = "Merci de rappeler Sébastien Marchand au sujet de son prêt immobilier."
    people = {text[r.start : r.end] for r in engine.ner_pass(text, 0.5) if r.entity_type == "PERSON"}
    assert "Sébastien Marchand" in people


def test_no_models_for_other_languages() -> None:
    """Only English and the configured languages get a model: German text gets none."""
    engine = DetectionEngine(ner_models={})
    text = "Beschreibe den Rückzahlungsprozess für Herrn Calcula."
    assert engine.other_nlp == {}
    assert not [r for r in engine.ner_pass(text, 0.0) if r.entity_type == "PERSON"]
