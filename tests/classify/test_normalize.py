import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from gateway.classify.normalize import normalize
from gateway.classify.script import is_readable


def test_ascii_text_is_returned_as_is() -> None:
    view = normalize("Card 4111 1111 1111 1111")
    assert view.text == "Card 4111 1111 1111 1111"
    assert not view.changed
    assert view.to_original(5, 24) == (5, 24)


def test_full_width_digits_become_ascii() -> None:
    view = normalize("卡号４１１１　１１１１")
    assert view.text == "卡号4111 1111"


def test_invisible_characters_are_removed() -> None:
    text = "4\u200b1\u200c1\u200d1\u2060 1\ufeff1\u00ad11 \u202e1111"
    assert normalize(text).text == "4111 1111 1111"


def test_digits_of_other_scripts_and_dash_look_alikes_are_folded() -> None:
    assert normalize("٤١١١–١١١١").text == "4111-1111"
    assert normalize("123\u2212456\u2014789").text == "123-456-789"
    assert normalize("4111·1111").text == "4111.1111"


def test_span_maps_back_to_the_original_characters() -> None:
    text = "pay ４１１１\u200b１１１１ now"
    view = normalize(text)
    start = view.text.index("4")
    end = start + len("41111111")
    original_start, original_end = view.to_original(start, end)
    assert text[original_start:original_end] == "４１１１\u200b１１１１"


def test_expansions_map_each_character_to_its_source() -> None:
    text = "ﬁle ① x"
    view = normalize(text)
    assert view.text == "file 1 x"
    assert view.to_original(0, 2) == (0, 1)  # "fi" comes from the ligature
    assert view.to_original(5, 6) == (4, 5)


def test_combining_marks_stay_with_their_base() -> None:
    text = "Rene\u0301 Lefe\u0300vre"
    view = normalize(text)
    assert view.text == "René Lefèvre"
    start = view.text.index("René")
    assert view.to_original(start, start + 4) == (0, 5)


def test_empty_span_maps_to_a_position() -> None:
    view = normalize("ab\u200bc")
    assert view.to_original(1, 1) == (1, 1)
    assert view.to_original(len(view.text), len(view.text)) == (4, 4)


_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from("\u200b\u200d\ufeff\u00ad０１２３ﬁ①\u0301\u2013٣ 4"),
    ),
    max_size=40,
)


@given(_TEXT)
def test_every_normalized_character_comes_from_its_mapped_segment(text: str) -> None:
    view = normalize(text)
    if not view.changed:
        assert view.text == text
        return
    assert view.starts is not None and view.ends is not None
    assert len(view.starts) == len(view.ends) == len(view.text)
    previous = 0
    for index, char in enumerate(view.text):
        start, end = view.starts[index], view.ends[index]
        assert previous <= start < end <= len(text)
        assert char in normalize(text[start:end]).text
        previous = start


@given(_TEXT, st.data())
def test_round_trip_on_segment_boundaries(text: str, data: st.DataObject) -> None:
    view = normalize(text)
    boundaries = (
        [0]
        + [i for i in range(1, len(view.text)) if view.to_original(i, i + 1)[0] != view.to_original(i - 1, i)[0]]
        + [len(view.text)]
    )
    start = data.draw(st.sampled_from(boundaries))
    end = data.draw(st.sampled_from([b for b in boundaries if b >= start]))
    original_start, original_end = view.to_original(start, end)
    assert normalize(text[original_start:original_end]).text == view.text[start:end]


@given(st.text(alphabet="0123456789 -", min_size=1, max_size=30))
def test_full_width_round_trip(ascii_text: str) -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) if c != " " else "\u3000" for c in ascii_text)
    assert normalize(wide).text == unicodedata.normalize("NFKC", wide)


def test_readable_scripts() -> None:
    assert is_readable("Transfer EUR 500 to Zürich, Mr. Nguyễn")
    assert is_readable("客户王秀英的账户余额")
    assert is_readable("β of 1.2 and Δ hedging, σ = 0.3")  # single letters of other scripts
    # scanned by our recognizers (titles, honorifics, introducing words), not refused
    assert is_readable("Клиент Иван Петров")
    assert is_readable("Customer Иван paid")
    assert is_readable("Ο πελάτης κ. Παπαδόπουλος")
    assert is_readable("お客様の口座")  # Japanese kana
    assert is_readable("佐々木様")
    assert is_readable("고객 김민수")


def test_unreadable_scripts() -> None:
    assert not is_readable("العميل محمد")
    assert not is_readable("Customer محمد paid")  # one Arabic word is enough
    assert not is_readable("לקוח משה כהן")
    assert not is_readable("ลูกค้า สมชาย")
    assert not is_readable("ग्राहक राहुल")
