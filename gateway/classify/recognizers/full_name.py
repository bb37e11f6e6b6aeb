"""PERSON: full names in running text with nothing before them but a given name.

German, Spanish, Italian and Dutch text gets no NER model here, and most names in it
stand without a title or key word (``Überweisung an Jörg Brandt``, ``Rimborso per Giulia
Esposito``). Four forms a bank's text offers in any language are reported:

- a common given name (``given_names.py``) followed by one or two capitalised name words,
  particles between (``Anna Maria Rossi``, ``Jan van der Berg``, ``Jörg BRANDT``) (0.6);
- two or three capitalised words, one of them with a letter that no word of the languages
  we read writes but names from elsewhere do (``Margrethe Sørensen``, ``Łukasz Nowak``,
  ``Zsófia Kovács``: ``ø å æ ł ś ő ű ş ğ č ř ž``...) (0.6);
- after a greeting or a salutation, one capitalised word closed by a comma, a colon or the
  line's end (``Hallo Anna,``, ``Dear Kuyra,``, ``Gentile Rossi,``) (0.6);
- what a person says of their own name (``my name is Liva``, ``ich heiße Ole``, ``me llamo
  Iker``, ``mi chiamo Ugo``, ``je m'appelle Solène``, ``ik heet Sem``) (0.85), and a vocative
  before a request (``Kuyra, can I ...``, ``Marta, puoi ...``) (0.6).

Not a person: a given name after ``San``, ``Santa``, ``Saint``, ``Sankt`` or a street word
(``Sainte Audrey``, ``Via Giuseppe Verdi``, ``Calle Juan Bravo``: a place or a street, which
the address rules judge), nor before a company's legal form or a place noun (``Otto
Schmidt GmbH``, ``Victoria Station``).
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from gateway.classify.recognizers import salutation
from gateway.classify.recognizers.address import STREET_SUFFIXES
from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.recognizers.given_names import GIVEN_NAMES
from gateway.classify.recognizers.name_shape import NOT_NAME_WORDS, is_non_name

_NAME_WORD = r"(?:\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?|\p{Lu}{3,}(?:-\p{Lu}{3,})?)"
_PARTICLE = r"(?:van der|van den|van de|van|von der|von|de la|de los|del|della|de|di|da|du|dos|das|ter|ten|zu)"
_CAPITALISED = regex.compile(r"(?<![\p{L}\p{N}_@./\\-])\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?(?![\p{L}\p{N}_@])")
_SURNAMES = regex.compile(rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_NAME_WORD}(?![\p{{L}}\p{{N}}_@])){{1,2}}")
# ``Rossi Mario``: the register order of Italian, Hungarian and many forms; the word before
# the given name is the surname.
_SURNAME_FIRST = regex.compile(rf"(?<![\p{{L}}\p{{N}}_@./-])({_NAME_WORD})[ \t]+$")
# ``P. Jansen``, ``J.P. de Vries``, ``A. Müller``: initials before a surname.
_INITIALS = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}.])((?:\p{{Lu}}\.[ \t]?){{1,3}})(?:{_PARTICLE}[ \t]+)?"
    rf"\p{{Lu}}[\p{{Ll}}'’]+(?:-\p{{Lu}}[\p{{Ll}}'’]+)?(?![\p{{L}}\p{{N}}_@.])"
)
_NOT_INITIALS = frozenset({"SA", "SL", "NV", "BV", "US", "UK", "EU", "UN", "AG", "KG", "SE", "CO", "ST", "PS", "NB"})
_WORD = regex.compile(r"[\p{L}'’-]+")
_NEXT_TOKEN = regex.compile(r"[ \t]+([\p{L}.]+)")

# A letter that marks a name from elsewhere: none of en, de, fr, es, it, nl, pt writes it.
_FOREIGN_LETTERS = "øØåÅæÆłŁśŚźŹżŻńŃőŐűŰşŞğĞčČřŘžŽěĚůŮđĐșȘțȚăĂıİ"
_FOREIGN_PAIR = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}_@./-]){_NAME_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_NAME_WORD}){{1,2}}(?![\p{{L}}\p{{N}}_@])"
)
_HAS_FOREIGN = regex.compile(f"[{_FOREIGN_LETTERS}]")

# Words before a given name that make it a place, a street or an institution.
_PLACE_BEFORE_TEXT = """
    san santa santo sant sankt saint sainte st ste s via viale vicolo corso piazza piazzale largo
    calle avenida avda plaza paseo rambla carrer rua avenue rue boulevard bd place quai allée
    impasse chemin square straat laan plein gracht kade hotel colegio instituto istituto liceo
    scuola ospedale hospital aeropuerto aeroporto stazione estación gare fondazione fundación
    fondation stiftung premio prix preis teatro museo musée museum universidad università université
    bedrijf firma empresa società azienda ditta unternehmen société compagnie company
    oude oud nieuw nieuwe groot grote klein kleine neu neuen alt bad nord süd ost west nuovo nuova vecchio nueva
    nuevo vieux vieille grand grande petit petite port porto monte mont val villa castel castello
    borgo torre puerto playa isla cala ciudad
"""
PLACE_BEFORE = frozenset(_PLACE_BEFORE_TEXT.split())
# Words after a name that make it a company, a place or a building.
_COMPANY_FORMS_TEXT = """
    gmbh ag kg kgaa se ohg ug ev sa sas sarl sl slu spa srl sapa snc bv nv vof plc ltd llc inc corp
    co company stiftung foundation fondazione fundación fondation stichting scom sll sal sccl sat
    slne gbr eg mbh partg scoop sae trust memorial award prize day act club society
"""
_COMPANY_FORMS = frozenset(_COMPANY_FORMS_TEXT.split())
_PLACE_NOUNS_TEXT = """
    straße strasse str platz allee weg gasse ring damm ufer street road avenue lane station airport
    park square bridge beach falls hall house centre center tower building hospital school college
    university church bay island lake river mountain valley county city institut institute
    universität hochschule schule gymnasium stadion stadium klinik klinikum kirche haus bahnhof
    flughafen library museum theatre theater arena
"""
_PLACE_NOUNS = frozenset(_PLACE_NOUNS_TEXT.split()) | STREET_SUFFIXES
# Place nouns that are also common surnames (``Debra Wells``, ``Troy Lane``): a place only
# after a preposition of place (``on Katherine Lane``).
_SURNAME_LIKE_PLACES_TEXT = """
    lane wells well hill hills brooks brook mills mill fields field park parks green greens ford
    fords banks bridge bridges cliff cliffs dale forest grove groves hall marsh pike rivers river
    rose way chase cross gates gate lake lakes lock locks moss shore shores stone vale wall walls
    ward wood woods meadows glen glens haven heath key keys ridge ridges camp cove crest ferry
    hollow light lodge manor mount orchard path pine pines plain point port spring springs summit
    terrace trail view village walk yard church house bay
"""
_SURNAME_LIKE_PLACES = frozenset(_SURNAME_LIKE_PLACES_TEXT.split())
_ARTICLES = frozenset(
    {"el", "la", "los", "las", "le", "les", "il", "lo", "de", "den", "het", "the", "der", "die", "das"}
)
# A branch's town: ``filiale di``, ``oficina de``, ``Filiale in``, ``kantoor in``, ``agence de``.
_BRANCH = frozenset(
    {"filiale", "filiali", "agenzia", "sede", "sportello", "succursale", "oficina", "sucursal", "agencia",
     "kantoor", "vestiging", "agence", "branch", "office", "niederlassung", "geschäftsstelle"}
)  # fmt: skip
_BRANCH_OF = frozenset({"di", "de", "del", "in", "a", "van", "te", "à", "d", "of", "at", "im", "von"})
_LOCATIVE = frozenset({"on", "at", "in", "of", "near", "off", "along", "via", "into", "onto", "toward", "towards"})
_COMPANY_AFTER = regex.compile(
    r"[ \t]*(?:&|\+|\bund\b|\be\b|\by\b|\bet\b|\ben\b|\band\b)[ \t]*"
    r"(?i:co\b|cie\b|söhne|sohn|figli|figlio|hijos|hijo|fils|zonen|zoon|asociados|associati|associés|partner)"
)
NOT_SURNAMES = (NOT_NAME_WORDS | salutation.NOT_NAME_WORDS | _COMPANY_FORMS | _PLACE_NOUNS) - _SURNAME_LIKE_PLACES

_GREETINGS = (
    "dear", "hi", "hello", "hey", "good morning", "good afternoon", "good evening",
    "liebe", "lieber", "hallo", "guten tag", "guten morgen", "moin", "servus",
    "cher", "chère", "bonjour", "bonsoir", "salut",
    "querido", "querida", "estimado", "estimada", "hola", "buenos días", "buenas tardes",
    "caro", "cara", "gentile", "egregio", "egregia", "gentilissimo", "gentilissima", "ciao", "buongiorno",
    "buonasera", "salve",
    "beste", "geachte", "hoi", "goedemorgen", "goedemiddag",
)  # fmt: skip
_GREETING = regex.compile(
    rf"(?:^|(?<=[\n.!?]))[ \t>]*(?i:{'|'.join(_GREETINGS)})[ \t]+(\p{{Lu}}[\p{{Ll}}'’]+(?:-\p{{Lu}}[\p{{Ll}}'’]+)?)"
    r"[ \t]*(?=[,:!]|\r?\n|$)"
)
# Words after a greeting that address no one person.
_NOT_ADDRESSEES_TEXT = """
    team all everyone everybody colleagues colleague sir madam madame sirs folks there guys zusammen
    kollegen kolleginnen damen herren leute alle allerseits équipe tous collègues messieurs mesdames
    equipo todos todas compañeros señores señoras squadra tutti colleghi signori allemaal iedereen
    collega's heren dames
"""
_NOT_ADDRESSEES = frozenset(_NOT_ADDRESSEES_TEXT.split())
# Words that open a sentence before a comma without addressing anyone.
_NOT_VOCATIVES_TEXT = """
    however also additionally so well now ok okay yes no sorry thanks please hi hello hey first
    second third next then finally meanwhile therefore moreover furthermore otherwise instead again
    today tomorrow yesterday here there honestly actually anyway besides still and but or
    bitte danke ja nein also jedoch außerdem zudem dann heute morgen gestern hallo
    oui non merci alors ensuite enfin donc aussi bonjour aujourd'hui demain hier
    sí gracias además entonces luego hoy mañana ayer hola también
    grazie inoltre quindi poi allora oggi domani ieri ciao anche
    ja nee dank bedankt daarnaast dus dan verder vandaag morgen gisteren hoi ook
"""
_NOT_VOCATIVES = frozenset(_NOT_VOCATIVES_TEXT.split())
_OWN_NAME = regex.compile(
    r"(?i:\bmy name is|\bmy name's|\bich heiße|\bich heisse|\bmein name ist|\bje m'appelle|\bje m’appelle|"
    r"\bmon nom est|\bme llamo|\bmi nombre es|\bmi chiamo|\bil mio nome è|\bik heet|\bmijn naam is)"
    r"[ \t]+(\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?(?:[ \t]+\p{Lu}[\p{Ll}'’]+){0,2})"
)
_VOCATIVE = regex.compile(
    r"(?:^|(?<=[\n.!?][ \t]*))(\p{Lu}[\p{Ll}'’]+),[ \t]+"
    r"(?=(?i:can you|could you|can i|could i|would you|will you|please|do you|did you|are you|have you|"
    r"kannst du|könntest du|können sie|könnten sie|bitte|hast du|haben sie|"
    r"peux-tu|pouvez-vous|pourriez-vous|pourrais-tu|as-tu|avez-vous|"
    r"puedes|podrías|puede usted|podría|por favor|tienes|"
    r"puoi|potresti|può|potrebbe|per favore|hai|"
    r"kun je|kunt u|zou je|zou u|heb je|hebt u|alsjeblieft|alstublieft)\b)"
)
_OWN_NAME_NEEDS = ("name", "heiß", "heiss", "appelle", "nom est", "llamo", "nombre", "chiamo", "nome", "heet", "naam")


class FullNameRecognizer(ScanningRecognizer):
    """PERSON: given name + surname, foreign-lettered names, greetings, own names (module docstring)."""

    ENTITY = "PERSON"

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        return self.scan_with(text, every=False)

    @staticmethod
    def scan_with(text: str, *, every: bool) -> Iterator[tuple[int, int, float]]:
        """The matches; ``every``: skip no rule for want of a character it needs (for tests)."""
        yield from _given_and_surname(text)
        if every or not text.isascii():
            for match in _FOREIGN_PAIR.finditer(text, overlapped=True):
                if _HAS_FOREIGN.search(match.group()) and is_name_run(text, match.start(), match.end()):
                    yield match.start(), match.end(), 0.6
        for match in _GREETING.finditer(text):
            word = match.group(1)
            if word.lower() not in _NOT_ADDRESSEES and not is_non_name(word) and word.lower() not in NOT_SURNAMES:
                yield match.start(1), match.end(1), 0.6
        lowered = text.lower() if not every else ""
        if every or any(need in lowered for need in _OWN_NAME_NEEDS):
            for match in _OWN_NAME.finditer(text):
                span = _name_words(match.group(1))
                if span:
                    yield match.start(1), match.start(1) + span, 0.85
        if every or "." in text:
            for match in _INITIALS.finditer(text):
                if match.group(1).replace(".", "").replace(" ", "").replace("\t", "") in _NOT_INITIALS:
                    continue
                if is_name_run(text, match.end(1), match.end()):
                    yield match.start(), match.end(), 0.6
        if every or "," in text:
            for match in _VOCATIVE.finditer(text):
                word, lowered = match.group(1), match.group(1).lower()
                if lowered.endswith("ly") or lowered in _NOT_VOCATIVES or lowered in NOT_SURNAMES:
                    continue
                if not is_non_name(word):
                    yield match.start(1), match.end(1), 0.6


def _given_and_surname(text: str) -> Iterator[tuple[int, int, float]]:
    for word in _CAPITALISED.finditer(text):
        given = word.group()
        if given not in GIVEN_NAMES and given.split("-")[0] not in GIVEN_NAMES:
            continue
        surnames = _SURNAMES.match(text, word.end())
        if surnames is None:
            before = _SURNAME_FIRST.search(text, max(0, word.start() - 40), word.start())
            if (
                before is not None
                and before.group(1).lower() not in PLACE_BEFORE
                and before.group(1).lower() not in _PLACE_NOUNS
                and before.group(1).lower() not in _ARTICLES
                and is_name_run(text, before.start(1), word.end())
            ):
                yield before.start(1), word.end(), 0.6
            continue
        end = word.end() + _name_words(surnames.group())
        if end > word.end() and is_name_run(text, word.start(), end):
            yield word.start(), end, 0.6


def _name_words(run: str) -> int:
    """Length of ``run`` up to the end of its last word before one that is no name; 0 if none."""
    end = 0
    for word in _WORD.finditer(run):
        if not_a_surname(word.group()):
            break
        end = word.end()
    return end


def not_a_surname(word: str) -> bool:
    """A word no name holds: a non-name word, a company form or a place noun that no surname is."""
    lowered = word.lower()
    return lowered in NOT_SURNAMES or (is_non_name(word) and lowered not in _SURNAME_LIKE_PLACES)


def names_a_place(text: str, start: int, end: int) -> bool:
    """The name at ``[start, end)`` is a street's or a place's: a place noun ends it or follows it
    (``Katherine Drive``, ``Victoria Station``), one that is also a surname only after a preposition
    of place (``on Troy Lane``, not ``Troy Lane says``)."""
    words = _WORD.findall(text, start, end)
    after = _NEXT_TOKEN.match(text, end)
    candidates = [words[-1]] if len(words) > 1 else []
    if after is not None:
        candidates.append(after.group(1).replace(".", ""))
    for word in candidates:
        lowered = word.lower()
        if lowered not in _PLACE_NOUNS:
            continue
        if lowered not in _SURNAME_LIKE_PLACES:
            return True
        before = _WORD.findall(text, max(0, start - 12), start)
        return bool(before) and before[-1].lower() in _LOCATIVE
    return False


def is_name_run(text: str, start: int, end: int) -> bool:
    """Neither a place or institution before it nor a company form or place noun after it."""
    before = _WORD.findall(text, max(0, start - 30), start)
    if before and before[-1].lower().rstrip("'’") in PLACE_BEFORE:
        return False
    if len(before) >= 2 and before[-2].lower() in _BRANCH and before[-1].lower().rstrip("'’") in _BRANCH_OF:
        return False  # ``filiale di Bagnolo Piemonte``, ``oficina de Villanueva``: a town
    if any(not_a_surname(word) for word in _WORD.findall(text, start, end)):
        return False
    after = _NEXT_TOKEN.match(text, end)
    if after is not None and after.group(1).replace(".", "").lower() in _COMPANY_FORMS:
        return False
    return not names_a_place(text, start, end) and _COMPANY_AFTER.match(text, end) is None
