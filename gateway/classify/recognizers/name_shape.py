"""Person-name shape: what the small English NER model misses, and what it makes up.

The small spaCy model misses many names the larger ones find (``from Beverly
Parker to``, ``notes: Grace Bailey and Leigh Mills``) and calls sentence-first
verbs and codes people (``Draft``, ``Summarize ISIN``, ``JPY``). Two fixes,
both working on the NER pass's tokens:

- ``trim_person``: a PERSON span loses leading and trailing words that are
  not names (imperative verbs, function words, finance vocabulary, currency
  codes and acronyms); nothing left, no PERSON.
- ``name_shaped_spans``: two to four consecutive capitalised words
  (``Hughes-Atkinson``, ``De Sousa``, ``van der Berg`` included) where none
  is a known non-name word, the model has not tagged the words as a place,
  nationality, date or amount, no article comes before them, and a word
  that introduces or follows a person does (``from``, ``for``, ``this is``,
  ``name:``, ``and`` after a name; ``(phone``, ``'s``, ``says``...), are
  reported as PERSON with the weak score ``NAME_SHAPE_SCORE``: at the usual
  ``min_score`` of 0.5 they count. This trades some false positives on
  capitalised phrases (which send a request on-premises) for names the
  model would let out.
"""

from __future__ import annotations

from spacy.tokens import Doc

NAME_SHAPE_SCORE = 0.5

_NON_NAME_LABELS = frozenset(
    {"GPE", "LOC", "FAC", "NORP", "DATE", "TIME", "MONEY", "PERCENT", "QUANTITY",
     "CARDINAL", "ORDINAL", "LAW", "LANGUAGE", "EVENT", "PRODUCT", "WORK_OF_ART"}
)  # fmt: skip
_PARTICLES = frozenset(
    {"de", "da", "di", "du", "del", "della", "der", "den", "van", "von", "le", "la", "bin", "ibn", "al", "el", "y"}
)  # fmt: skip

# Capitalised words that are not (parts of) personal names in bank prompts.
_NOT_NAME_WORDS_TEXT = """
    a an the this that these those our your my their his her its we you they it i he she me us
    please dear hi hello hey thanks thank kind best regards sincerely yes no ok okay if when why
    what how who where which whose and or but for from to in on at by with of as is are was were be
    been can could should would will shall may might must do does did not all any each every some
    new old next last first second third other another more most many much few here there then now
    today tomorrow yesterday also just only still very per via re fw fwd attn note notes draft write
    summarize summarise explain compare convert calculate translate classify review check send
    update reply plot list create generate analyze analyse describe tell give show find make prepare
    reconcile confirm call email mail pls add remove use fix provide suggest help rewrite format
    extract identify assess evaluate estimate forecast outline propose recommend approve reject flag
    escalate investigate block open close print read run test verify validate submit request ask
    answer let get set keep take put see look consider ensure include exclude start stop pay
    transfer wire refund charge bill issue cancel renew schedule book meet bank banks banking group
    capital fund funds holdings holding partners securities asset assets management investment
    investments insurance financial finance credit debit card cards account accounts loan loans
    mortgage mortgages payment payments services service board committee risk compliance audit
    treasury trading markets market exchange central federal reserve european national international
    global annual report reports quarterly monthly weekly daily interest rate rates policy policies
    directive regulation regulations act basel tier net gross income revenue profit loss balance
    sheet statement statements cash flow equity debt bond bonds yield index stock stocks share
    shares price prices cost costs tax taxes data system systems team department office branch desk
    operations technology digital customer customers client clients python excel java sql microsoft
    google apple amazon oracle windows linux word powerpoint outlook teams slack jira confluence
    github monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december q1 q2 q3 q4 fy h1 h2 street road avenue
    lane drive court place square way boulevard suite apt floor building ltd limited inc corp
    corporation company co llc llp plc ag gmbh sa nv bv spa kg university institute association
    authority agency ministry government council commission union kingdom states republic america
    europe asia africa china germany france britain england london paris berlin frankfurt zurich
    geneva tokyo beijing shanghai hong kong singapore york north south east west northern southern
    eastern western upper lower greater goldman sachs morgan stanley wells fargo lehman barclays
    lloyds santander rothschild schwab fidelity vanguard blackrock citi citigroup hsbc ubs deutsche
    commerzbank natwest chase jpmorgan visa mastercard amex maestro unionpay paypal swift sepa iban
    bic isin lei kyc aml cft gdpr mr mrs ms miss mx dr prof sir madam herr frau mme mlle good
    banco banca banque bankhaus sparkasse volksbank raiffeisen caixa caja cassa crédit credito société
    societe générale generale santander bbva intesa unicredit sanpaolo paribas bnp rabobank abn amro ing
    morning afternoon evening night welcome congratulations happy merry christmas easter
"""
NOT_NAME_WORDS = frozenset(_NOT_NAME_WORDS_TEXT.split())
# Codes and acronyms that the model mistakes for names.
_ACRONYMS_TEXT = """
    USD EUR GBP JPY CNY RMB CHF HKD SGD AUD CAD NZD SEK NOK DKK PLN CZK HUF RUB INR KRW TWD BRL MXN
    ZAR TRY AED SAR ILS THB IDR MYR PHP VND ISIN IBAN BIC SWIFT KYC AML CFT GDP CPI CET1 RWA LCR
    NSFR VAR VaR NPL LEI SEPA ECB FED BOE PBOC IMF ESG IPO ETF OTC FX CDS CDO MBS ABS REIT EPS
    EBITDA ROE ROA NIM LTV DTI FICO APR APY YTD YOY QOQ MOM CEO CFO CTO COO CRO CIO HR IT API SQL
    PDF CSV JSON XML UI UX SLA KPI OKR PO INV GL AP AR LPR SOFR EURIBOR SONIA LIBOR NAV AUM PnL FTE
    SME SMEs
"""
_ACRONYMS = frozenset(_ACRONYMS_TEXT.split())


def is_non_name(word: str) -> bool:
    """True for a word that is not part of a personal name (see the lists above)."""
    return word.lower() in NOT_NAME_WORDS or word in _ACRONYMS or word.isdigit()


def trim_person(span: str) -> tuple[int, int] | None:
    """Offsets of ``span`` without its non-name edge words, or None if none is left."""
    words = []
    position = 0
    for word in span.split():
        start = span.index(word, position)
        position = start + len(word)
        words.append((start, position, word.strip(".,;:!?()\"'")))
    while words and (is_non_name(words[0][2]) or not words[0][2]):
        words.pop(0)
    while words and (is_non_name(words[-1][2]) or not words[-1][2]):
        words.pop()
    if not words:
        return None
    return words[0][0], words[-1][1]


def _name_word(text: str) -> bool:
    if len(text) < 2 or not text[0].isupper() or is_non_name(text):
        return False
    rest = text[1:].replace("'", "").replace("’", "")
    return rest.isalpha() and any(char.islower() for char in rest)


# A name-shaped run counts only next to a word that introduces or follows a
# person; a run after an article is a term ("the Expected Shortfall").
_CUES_BEFORE_TEXT = """
    from for to with by is am was named name met meet meeting called call told tell ask asked email
    emailed contact contacted thank thanks dear hi hello hey cc attn between customer client holder
    cardholder beneficiary payee payer applicant borrower sender recipient signed regards sincerely
    spoke visited per : , ( -
"""
_CUES_BEFORE = frozenset(_CUES_BEFORE_TEXT.split())
# Cues that count only for runs with letters outside ASCII (a foreign name in English text).
_FOREIGN_CUES_BEFORE = frozenset(("of", "about", "on", "at", "update", "records", "is", "with", "and"))
_CUES_AFTER_TEXT = """
    ( 's ’s says said called calls disputes disputed wants wanted asked asks reported complained
    mentioned requested confirmed signed replied wrote emailed phoned says: is was has had
"""
_CUES_AFTER = frozenset(_CUES_AFTER_TEXT.split())
_ARTICLES = frozenset(
    ("the", "a", "an", "this", "that", "these", "those", "our", "your", "their", "its", "his", "her", "my")
)


def name_shaped_spans(doc: Doc) -> list[tuple[int, int]]:
    """Character spans of name-shaped runs of tokens next to a person cue (module docstring)."""
    blocked = {token.i for entity in doc.ents if entity.label_ in _NON_NAME_LABELS for token in entity}
    people_end = {entity.end - 1 for entity in doc.ents if entity.label_ == "PERSON"}
    spans: list[tuple[int, int]] = []
    run: list[int] = []  # token indices of the current run
    names_in_run = 0

    def cued(first: int, last: int) -> bool:
        before = doc[first - 1].lower_ if first > 0 else ""
        if before in _ARTICLES:
            return False
        if before in _CUES_BEFORE or (before in ("and", "&", "or") and first - 2 in people_end):
            return True
        if before in _FOREIGN_CUES_BEFORE and not doc[first : last + 1].text.isascii():
            return True  # ``the records of Margrethe Sørensen``: letters English names rarely have
        after = doc[last + 1].lower_ if last + 1 < len(doc) else ""
        return after in _CUES_AFTER

    def close() -> None:
        nonlocal run, names_in_run
        while run and not _name_word(doc[run[-1]].text):  # no trailing particle or hyphen
            run.pop()
        if names_in_run >= 2 and run and cued(run[0], run[-1]):
            spans.append((doc[run[0]].idx, doc[run[-1]].idx + len(doc[run[-1]].text)))
            people_end.add(run[-1])
        run, names_in_run = [], 0

    for token in doc:
        text = token.text
        joined = bool(run) and doc[run[-1]].whitespace_ == ""
        if token.i in blocked:
            close()
        elif _name_word(text) and names_in_run < 4:
            run.append(token.i)
            names_in_run += 1
        elif run and (text.lower() in _PARTICLES or (text in "-‐" and joined)):
            run.append(token.i)
        else:
            close()
    close()
    return spans
