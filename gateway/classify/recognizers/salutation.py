"""Where a bank's text names a person, in every language it writes: patterns for ``person.py``.

No NER model reads German, Spanish, Italian, Dutch, Japanese or Korean here (the
registry has none that installs with our spaCy), so names in those languages are found
where the text itself says a person comes:

- after a title or a salutation (``Herr``, ``Frau``, ``M.``, ``Mme``, ``Sr.``, ``Sra.``,
  ``Sig.``, ``Sig.ra``, ``Dott.``, ``Dhr.``, ``Mevr.``, ``heer``, ``mevrouw``, ``г-н``,
  ``κ.``...): one to three name words, a surname alone included (0.85);
- after a word that introduces a person (``Kunde``, ``Kontoinhaberin``, ``titulaire``,
  ``titular``, ``intestatario``, ``rekeninghouder``...): two or three name words (0.6);
- under a closing formula (``Mit freundlichen Grüßen``, ``Cordialement``,
  ``Atentamente``, ``Cordiali saluti``, ``Met vriendelijke groet``, ``Best regards``,
  ``此致``, ``よろしくお願いいたします``...), the name line of a signature block (0.85);
- Japanese: a name before ``様``, ``さん``, ``氏``, ``殿``, ``くん``, ``ちゃん`` (not ``お客様``,
  ``皆様``, ``お疲れ様``...), or after ``氏名``, ``名義人``, ``お客様``, ``顧客``... (0.85);
- Korean: a name of two to four syllables before ``님`` or ``씨`` (not ``고객님``) (0.85).

A name word is a capitalised word of any Latin, Greek or Cyrillic letters
(``Sørensen``, ``Łukasz``, ``O'Neill``, ``Müller-Lüdenscheidt``), or one in capitals,
with the particles of European surnames between (``van der``, ``de``, ``di``, ``von``).
"""

from __future__ import annotations

import regex

_UPPER = r"\p{Lu}"
_NAME_WORD = rf"(?:{_UPPER}[\p{{Ll}}'’]+(?:-{_UPPER}[\p{{Ll}}'’]+)?|{_UPPER}{{2,}}(?:-{_UPPER}{{2,}})?)"
_PARTICLE = r"(?:van der|van den|van de|van|von der|von|de la|de los|del|della|de|di|da|du|dos|das|ter|ten|zu|le|la)"
# Words that follow a title without being a name (``Herr Doktor``, ``Monsieur le Président``).
_NOT_AFTER_TITLE = (
    r"(?:Doktor|Professor|Direktor|Direktorin|Präsident|Präsidentin|Kunde|Kundin|Président|Présidente|"
    r"Directeur|Directrice|Director|Directora|Presidente|Direttore|Direttrice|Dottore|Dottoressa|"
    r"Ministre|Minister|Ministro|Bürgermeister|Kollege|Kollegin|Collega|Colleague|Customer|Client)\b"
)
NAME = (
    rf"(?!{_NOT_AFTER_TITLE})(?:(?:van der|van den|van de|van|von|de|di|da|del|della|ter|ten) )?{_NAME_WORD}"
    rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_NAME_WORD}){{0,2}}"
)
TWO_NAME_WORDS = (
    rf"(?:(?:van der|van den|van de|van|von|de|di|da|del|della) )?{_NAME_WORD}"
    rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_NAME_WORD}){{1,2}}"
)

# Titles and salutations written before a name, case as written; ``.`` optional after each.
_TITLES = (
    "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Sir", "Dame", "Lady", "Lord",
    "Herr", "Herrn", "Frau", "Hr", "Fr", "Fräulein",
    "Mme", "Mmes", "Mlle", "Madame", "Monsieur", "Mademoiselle", "Maître",
    "Sr", "Sra", "Srta", "Sres", "Señor", "Señora", "Señorita", "Don", "Doña", "Dña", "Dª",
    "Sig", "Sig\\.ra", "Sig\\.na", "Sigg", "Signor", "Signora", "Signorina", "Dott", "Dott\\.ssa",
    "Avv", "Ing", "Geom", "Rag",
    "Dhr", "Mevr", "Mw", "Mej", "Heer", "Mevrouw", "Meneer", "Juffrouw",
    "Sra", "Senhor", "Senhora",
)  # fmt: skip
# Written in lower case inside a sentence (``geachte heer Jansen``, ``chère madame Petit``).
_LOWER_TITLES = (
    "herr", "frau", "madame", "monsieur", "mademoiselle", "señor", "señora", "signor", "signora",
    "heer", "mevrouw", "meneer", "dhr", "mevr", "sig\\.ra", "sig\\.na", "dott\\.ssa",
)  # fmt: skip
_SLAVIC_GREEK_TITLES = "г-н|г-жа|господин|госпожа|Господин|Госпожа|κ\\.|κα|κος|κύριος|κυρία|Κύριος|Κυρία|Κ\\."
# Abbreviated titles written in lower case inside a sentence, only with their dot (``il sig.
# Rossi``, ``la dott.ssa Bianchi``, ``el sr. Pérez``, ``de dhr. Jansen``).
_LOWER_ABBREVIATIONS = (
    "sig", "sigg", "dott", "avv", "prof", "geom", "rag", "sr", "sra",
    "srta", "dr", "dra", "mr", "mrs", "ms", "mme", "mlle", "hr", "mw",
)  # fmt: skip
_TITLE = (
    rf"(?<![\p{{L}}.])(?:(?:{'|'.join(_TITLES)}|{'|'.join(_LOWER_TITLES)})(?:\.|(?=[ \t]))"
    rf"|(?:{'|'.join(_LOWER_ABBREVIATIONS)})\."
    r"|(?:M|MM|D)\.)"  # single letters only with their dot: ``M. Dupont``, ``D. José``
)
_CYRILLIC_GREEK_NAME = r"[\p{Lu}][\p{Ll}]+(?:[ \t]+[\p{Lu}][\p{Ll}]+){0,2}"
_CG_WORD = r"(?=[\p{Cyrillic}\p{Greek}])\p{Lu}[\p{Cyrillic}\p{Greek}&&\p{Ll}]+"
_CYRILLIC_GREEK_INTRO = (
    "клиент|клиентка|клиента|клиенту|получатель|владелец|заёмщик|заемщик|держатель|"
    "πελάτης|πελάτισσα|δικαιούχος|κάτοχος|δανειολήπτης"
)

# Words that introduce a person, any case (``Kunde``, ``die Kundin``, ``titulaire :``).
_INTROS = (
    "customer", "client", "cardholder", "card holder", "account holder", "account name", "beneficiary",
    "payee", "payer", "remitter", "applicant", "borrower", "co-borrower", "guarantor", "signatory",
    "policyholder", "employee", "contact person", "dear", "attn", "spoke with", "spoke to",
    "kunde", "kundin", "kunden", "kontoinhaber", "kontoinhaberin", "karteninhaber", "karteninhaberin",
    "inhaber", "inhaberin", "empfänger", "empfängerin", "antragsteller", "antragstellerin",
    "ansprechpartner", "ansprechpartnerin", "darlehensnehmer", "darlehensnehmerin", "bürge", "bürgin",
    "vertragspartner", "vertragspartnerin", "mitarbeiter", "mitarbeiterin", "auftraggeber", "zahler",
    "cliente", "clienta", "titulaire", "bénéficiaire", "emprunteur", "emprunteuse", "porteur",
    "porteuse", "souscripteur", "contrepartie", "interlocuteur", "interlocutrice",
    "titular", "beneficiario", "beneficiaria", "prestatario", "prestataria", "avalista", "ordenante",
    "contraparte", "solicitante", "intestatario", "intestataria", "correntista", "richiedente",
    "mutuatario", "mutuataria", "garante", "ordinante", "controparte",
    "klant", "rekeninghouder", "begunstigde", "aanvrager", "aanvraagster", "pashouder",
    "contactpersoon", "kredietnemer", "borg", "wederpartij", "opdrachtgever",
)  # fmt: skip
INTROS = _INTROS
_INTRO = rf"(?<![\p{{L}}])(?i:{'|'.join(_INTROS)})(?:[ \t]*[:：,][ \t]*|[ \t]+)"

_CLOSINGS = (
    "Best regards", "Kind regards", "Regards", "Sincerely", "Yours sincerely", "Yours faithfully",
    "Many thanks", "Thanks", "Best",
    "Mit freundlichen Grüßen", "Mit freundlichen Grüssen", "Freundliche Grüße", "Viele Grüße", "Beste Grüße",
    "Cordialement", "Bien cordialement", "Bien à vous", "Salutations distinguées", "Sincères salutations",
    "Atentamente", "Saludos cordiales", "Un saludo", "Saludos", "Cordiales saludos",
    "Cordiali saluti", "Distinti saluti", "Saluti", "Un cordiale saluto",
    "Met vriendelijke groet", "Met vriendelijke groeten", "Vriendelijke groet", "Hartelijke groet", "Groeten",
    "С уважением", "Με εκτίμηση",
)  # fmt: skip
_CJK_CLOSINGS = "此致|敬礼|此致敬礼|顺祝商祺|谢谢|よろしくお願いいたします|よろしくお願いします|敬具|以上"

_JA_HONORIFIC = "様|さま|さん|氏|殿|くん|ちゃん"
_JA_NOT_NAMES = (
    "客|皆|皆さ|お客|疲れ|お疲れ|ご苦労|苦労|奥|神|仏|王|各位|貴|皆々|人|方|同|当|先|貴殿|ご主人|主人|社長|部長|課長"
)
_JA_NAME = r"[\p{Han}々]{1,3}(?:[ \u3000]?[\p{Han}々\p{Katakana}ぁ-ゖー]{1,4})?"
_JA_INTRO = "氏名|名義人|口座名義|お客様|顧客名|顧客|契約者|申込者|受取人|担当者|名前|取引相手|債務者|保証人"
_KO_NAME = r"[\uac00-\ud7a3]{2,4}"
_KO_NOT_NAMES = "고객|여러분|선생|회원|사장|부장|과장|팀장|손님"

# Necessary conditions of the Latin patterns, cheap to test: a title as written, an
# introducing word in the lower-cased text, a line break, a Cyrillic or Greek letter.
TITLE_STRINGS = tuple(
    sorted(
        {title.replace("\\", "") for title in _TITLES + _LOWER_TITLES}
        | {title.replace("\\", "") + "." for title in _LOWER_ABBREVIATIONS}
        | {"M.", "MM.", "D."}
    )
)
_SLAVIC_GREEK_STRINGS = tuple(title.replace("\\", "") for title in _SLAVIC_GREEK_TITLES.split("|"))

# (pattern, score, what the text must contain: "title", "slavic", "intro" or "line")
LATIN_PATTERNS: tuple[tuple[str, float, str], ...] = (
    (rf"(?<={_TITLE}[ \t]+){NAME}", 0.85, "title"),
    (rf"(?<=(?:{_SLAVIC_GREEK_TITLES})[ \t]+){_CYRILLIC_GREEK_NAME}", 0.85, "slavic"),
    (rf"(?<={_INTRO}){TWO_NAME_WORDS}", 0.6, "intro"),
    (
        rf"(?<=(?:^|\n)[ \t>]*(?:{'|'.join(_CLOSINGS)})[ \t]*[,.!]?[ \t]*\r?\n[ \t>]*)"
        rf"{TWO_NAME_WORDS}(?=[ \t]*(?:\r?\n|$|,))",
        0.85,
        "line",
    ),
)


def latin_needs(text: str) -> dict[str, bool]:
    """Which of the Latin patterns' conditions ``text`` meets (``LATIN_PATTERNS``)."""
    lowered = text.lower()
    return {
        "title": any(title in text for title in TITLE_STRINGS),
        "slavic": not text.isascii() and any(title in text for title in _SLAVIC_GREEK_STRINGS),
        "intro": any(intro in lowered for intro in _INTROS),
        "line": "\n" in text,
    }


CJK_PATTERNS: tuple[tuple[str, float], ...] = (
    (rf"(?<=(?:{_CJK_CLOSINGS})[。.!！]?[ \t]*\r?\n[ \t]*){_JA_NAME}(?=[ \t]*(?:\r?\n|$))", 0.85),
    (rf"(?<![\p{{Han}}々])(?!(?:{_JA_NOT_NAMES})(?:{_JA_HONORIFIC})){_JA_NAME}(?={_JA_HONORIFIC})", 0.85),
    (rf"(?<=(?:{_JA_INTRO})[:：は]?[ \u3000]?){_JA_NAME}(?=[、。,.:：（(）)\s]|の|が|は|に|を|と|$)", 0.85),
)
KOREAN_PATTERNS: tuple[tuple[str, float], ...] = (
    (rf"(?<![\uac00-\ud7a3])(?!(?:{_KO_NOT_NAMES})(?:님|씨)){_KO_NAME}(?=님|씨)", 0.85),
    (rf"(?<=(?:고객|성명|이름|예금주|수취인|신청인|차주)[ \t]*[:：]?[ \t]*){_KO_NAME}(?![\uac00-\ud7a3])", 0.85),
)
# Russian and Greek write nouns in lower case: capitalised words inside a sentence are
# names of people or places. After an introducing word (Latin or not) one is enough; two
# or three in a row anywhere but a sentence's start count weakly (0.5).
CYRILLIC_GREEK_PATTERNS: tuple[tuple[str, float], ...] = (
    (
        rf"(?<=(?i:{_CYRILLIC_GREEK_INTRO}|{'|'.join(_INTROS)})[ \t]*[:,]?[ \t]+){_CG_WORD}(?:[ \t]+{_CG_WORD}){{0,2}}",
        0.6,
    ),
    (rf"(?<=[\p{{Ll}},][ \t]+){_CG_WORD}(?:[ \t]+{_CG_WORD}){{1,2}}", 0.5),
)


# Capitalised words that follow a title or an introducing word without being a name, in
# the languages above (English ones are in ``name_shape.NOT_NAME_WORDS``).
_NOT_NAME_WORDS_TEXT = """
    service services center centre team portal konto bank banco banca banque kredit karte daten nummer
    number name gmbh ag kg ohg ug sa sas sarl sl srl spa bv nv ltd llc inc group gruppe groupe grupo
    gruppo groep holding filiale sucursal agence agencia agenzia kantoor abteilung département
    departamento dipartimento afdeling support kundenservice kundendienst servicio servizio klantenservice
"""
NOT_NAME_WORDS = frozenset(_NOT_NAME_WORDS_TEXT.split())


def compile_all(patterns: tuple[tuple[str, float], ...]) -> tuple[tuple[regex.Pattern[str], float], ...]:
    return tuple((regex.compile(pattern), score) for pattern, score in patterns)
