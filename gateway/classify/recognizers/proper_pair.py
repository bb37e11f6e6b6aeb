"""PERSON: two or three capitalised words inside a Spanish, Italian, Dutch or Portuguese sentence.

These languages write their nouns, adjectives and titles of things in lower case
(``la línea de crédito``, ``il conto corrente``, ``de rekening``): inside a sentence, a run of
two or three capitalised words is a proper name, and in a bank's text most such names are
people (``el pago de Lucía Ferrer Vidal``, ``per conto di Ottavio Gentile``). No NER model
reads these languages here (``language.py``), and a name with a given name that is not among
the common ones (``given_names.py``) has nothing else to find it.

The rule holds only where the text is in one of them: a handful of function words tells
(``el``, ``que``, ``il``, ``della``, ``het``, ``een``...), counted against those of English, German
and French, whose capitalised words (English titles, every German noun) would make it
a guess. Not a person (score 0.5, the weakest that counts): a run at a sentence's start, one
with a word that is a business, place or banking word (``Banco``, ``Servicios``, ``Calle``,
``Gruppo``...), one after an article (``La Rioja``, ``Las Palmas``, ``Den Haag``) or a place word
(``San``, ``Borgo``, ``Sesto``), one before a company form (``S.L.``, ``S.p.A.``, ``B.V.``).
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.recognizers.full_name import PLACE_BEFORE, is_name_run, not_a_surname

SCORE = 0.5
_CAP = r"\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?"
_PARTICLE = r"(?:de la|de los|del|della|delle|dei|de|di|da|dos|das|do|van der|van den|van de|van|ter|ten|y|e)"
_RUN = regex.compile(
    rf"(?<=[\p{{Ll}}\d%)][,;:]?[ \t]+|[(\"«“][ \t]*|,[ \t]+)"
    rf"({_CAP}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_CAP}){{1,2}})(?![\p{{L}}\p{{N}}_@])"
)
_WORD = regex.compile(r"[\p{L}'’-]+")
_LOWER_WORD = regex.compile(r"(?<![\p{L}])[\p{Ll}]+(?![\p{L}])")

_ROMANCE_NL_WORDS_TEXT = """
    el los las del que para por con una es está son al lo se su sus muy también pero como il della
    delle dei degli che per gli sono è di nel nella alla allo anche ma come questo het een van voor
    met niet op te zijn wordt naar bij ook maar dat deze dit worden os em não na no uma com pelo
    pela ao às são está de volgens heb hebben werd moet nog uur i e y o
"""
# Words only Dutch writes: where they are, a lower-case particle between two capitalised
# words is a Dutch surname's (``Maya de Keijzer``, ``Seth van Stralen``).
_DUTCH_ONLY = frozenset(
    {"het", "een", "niet", "zijn", "wordt", "naar", "volgens", "ook", "maar", "deze", "dit", "heeft", "heb", "uur"}
)
_DUTCH_NAME = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}_@./-])({_CAP}[ \t]+"
    rf"(?:van der|van den|van de|van|de|der|den|ter|ten|in 't|op de)[ \t]+{_CAP})"
    r"(?![\p{L}\p{N}_@])"
)
# A capitalised pair that opens a sentence and is followed by the verb of a person: a name
# where nouns take an article (``Ronny Kramer hat angerufen``, ``Sancho Pintor ha llamado``,
# ``Dex Stralen belde``); ``Der Kunde hat`` has one.
_OPENING_NAME = regex.compile(
    rf"(?:^|(?<=[.!?\n][ \t]*))({_CAP}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_CAP}){{1,2}})[ \t]+"
    r"(?=(?:hat|hatte|ist|war|wird|wurde|möchte|bittet|fragt|schreibt|ruft|teilt|meldet|kann|will|"
    r"benötigt|wünscht|beantragt|ha|había|llamó|pide|solicita|quiere|dice|escribe|está|"
    r"aveva|chiede|vuole|scrive|chiama|è|heeft|belde|vraagt|wil|schrijft|zegt|meldt|"
    r"tem|ligou|pede|quer|diz)\b)"
)
_DE_WORDS_TEXT = """
    der die das und ist nicht mit für von sie ihr ihre ihren den dem des ein eine einen zu auf im
    wir ich bei nach aus wird werden wurde hat haben sind bitte auch oder
"""
_EN_WORDS_TEXT = """
    the and of to for is with please this that on in at from by are was be you your we our it has
    have will would can could should
"""
_FR_WORDS_TEXT = """
    le les des du et pour avec dans sur est au aux ce cette nous vous je il elle sont ont pas qui
    une un être été
"""
_FUNCTION_WORDS = {
    "romance_nl": frozenset(_ROMANCE_NL_WORDS_TEXT.split()),
    "de": frozenset(_DE_WORDS_TEXT.split()),
    "en": frozenset(_EN_WORDS_TEXT.split()),
    "fr": frozenset(_FR_WORDS_TEXT.split()),
}
_ARTICLES = frozenset({"la", "las", "el", "los", "lo", "il", "le", "les", "l", "den", "het", "'t"})
_BUSINESS_WORDS_TEXT = """
    corporación construcciones comercial comerciales hermanos distribuciones industrias servicios
    soluciones transportes inversiones talleres gestión consultoría asesoría sistemas proyectos
    seguros ahorros caja banco banca grupo empresa sociedad fundación ayuntamiento ministerio
    gobierno hacienda seguridad social agencia tributaria tesoro público nacional general
    calle avenida plaza paseo carretera camino ronda travesía glorieta
    gruppo società studio industrie costruzioni servizi soluzioni trasporti investimenti
    assicurazioni agenzia entrate ministero governo comune regione provincia poste italiane
    via viale piazza corso largo vicolo strada
    groep bedrijf bedrijven diensten oplossingen transport verzekeringen belastingdienst
    ministerie gemeente provincie rijksoverheid straat laan plein weg gracht kade
    companhia serviços soluções seguros governo rua avenida praça
    europa europea europeo europese central centrale nord sud norte este oeste oost west zuid
    noord centro centrum koninklijke royal uitgevers uitgeverij bioscopen holding
    di del dei della delle ed al alla allo don monte valle rio rocca torre stazione lido bagni terme
    ponte piano poggio pieve colle lago fiume isola riva borgo frazione con sul sulla in
"""
_BUSINESS_WORDS = frozenset(_BUSINESS_WORDS_TEXT.split())
_PLACE_FIRST = PLACE_BEFORE | {"são", "sesto", "quarto", "quinto", "settimo"}


# German capitalises every noun, so a run of capitalised words is a name there only where a
# noun cannot stand: right after a preposition without an article (``an Jörg Brandt``, ``von
# Gerlinde Hövelmann``; a noun takes one: ``an die Bank``, ``von der Filiale``).
_DE_RUN = regex.compile(
    r"(?<=(?<![\p{L}])(?i:an|von|für|mit|bei|durch|gegen|über|zugunsten|namens|seitens|gez\.|laut|gemäß|"
    r"zwischen|ohne|samt|nebst)[ \t]+)"
    rf"({_CAP}[ \t]+(?:(?:von|van|de|zu|von der|van der)[ \t]+)?{_CAP}(?:[ \t]+{_CAP})?)(?![\p{{L}}\p{{N}}_@])"
)
_DE_NOT_NAMES_TEXT = """
    sie ihr ihre ihnen ihren ihrem ihrer ihres euch euer eure wir uns unser unsere unseren unserem
    montag dienstag mittwoch donnerstag freitag samstag sonntag januar februar märz april mai juni
    juli august september oktober november dezember quartal jahr jahres monat monats woche tag
    frau herr herrn firma familie team abteilung filiale kunde kunden konto karte bank sparkasse
    die der das den dem des ein eine einen einem einer eines dieser diese dieses jeder jede jedes
    unser unsere sein seine mein meine kein keine
"""
_DE_NOT_NAMES = frozenset(_DE_NOT_NAMES_TEXT.split())
# Endings of German nouns that no surname of the region has.
_DE_NOUN_ENDINGS = ("ungen", "heit", "keit", "schaft", "tion", "tät", "nis", "ment", "ismus", "ierung", "lung")


def dominant_language(text: str) -> str | None:
    """Which group's function words the text has most of: ``romance_nl``, ``de``, ``en``, ``fr``."""
    counts = dict.fromkeys(_FUNCTION_WORDS, 0)
    for word in _LOWER_WORD.findall(text):
        for language, words in _FUNCTION_WORDS.items():
            if word in words:
                counts[language] += 1
    best = max(counts, key=counts.__getitem__)
    if counts[best] == 0 or sum(count == counts[best] for count in counts.values()) > 1:
        return None
    return best


class ProperNamePairRecognizer(ScanningRecognizer):
    """PERSON: capitalised runs inside a Spanish, Italian, Dutch or Portuguese sentence."""

    ENTITY = "PERSON"

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        return self.scan_as(text, dominant_language(text))

    @staticmethod
    def scan_as(text: str, language: str | None) -> Iterator[tuple[int, int, float]]:
        """The matches in ``text`` read as ``language`` (``dominant_language``'s answer)."""
        if language == "de":
            yield from _german(text)
        if language not in ("de", "romance_nl"):
            return
        for match in _OPENING_NAME.finditer(text):
            if _is_name(text, match.start(1), match.end(1)):
                yield match.start(1), match.end(1), SCORE
        if language != "romance_nl":
            return
        if not _DUTCH_ONLY.isdisjoint(_LOWER_WORD.findall(text)):
            for match in _DUTCH_NAME.finditer(text, overlapped=True):
                if _is_name(text, match.start(1), match.end(1)):
                    yield match.start(1), match.end(1), 0.6
        for match in _RUN.finditer(text):
            words = _WORD.findall(match.group(1))
            first = words[0].lower()
            if first in _PLACE_FIRST or first in _ARTICLES or any(_not_a_name(word) for word in words):
                continue
            before = _WORD.findall(text, max(0, match.start(1) - 12), match.start(1))
            if before and before[-1].lower() in _ARTICLES:
                continue
            if text.startswith(("&", " &"), match.end(1)):
                continue  # ``Veen Bosch & Keuning``: a firm
            if is_name_run(text, match.start(1), match.end(1)):
                yield match.start(1), match.end(1), SCORE


def _german(text: str) -> Iterator[tuple[int, int, float]]:
    for match in _DE_RUN.finditer(text):
        words = _WORD.findall(match.group(1))
        if any(_not_a_name(word) or word.lower() in _DE_NOT_NAMES for word in words):
            continue
        if any(word.lower().endswith(_DE_NOUN_ENDINGS) for word in words):
            continue
        if is_name_run(text, match.start(1), match.end(1)):
            yield match.start(1), match.end(1), SCORE


def _is_name(text: str, start: int, end: int) -> bool:
    words = _WORD.findall(text, start, end)
    if words[0].lower() in _PLACE_FIRST or words[0].lower() in _ARTICLES:
        return False
    if any(_not_a_name(word) or word.lower() in _DE_NOT_NAMES for word in words):
        return False
    if any(word.lower().endswith(_DE_NOUN_ENDINGS) for word in words):
        return False
    return is_name_run(text, start, end)


def _not_a_name(word: str) -> bool:
    lowered = word.lower()
    return lowered in _BUSINESS_WORDS or lowered in PLACE_BEFORE or not_a_surname(word)
