"""Placeholders are deterministic and never collide; restoring is tolerant, exact, and streams."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import ConfigError
from gateway.pseudonymize import PseudonymKey, StreamRestorer, Vault, restore

KEY = PseudonymKey(b"k" * 32, ephemeral=False)


def test_the_same_value_gets_the_same_placeholder_in_every_request_of_a_scope() -> None:
    first, second = Vault(KEY, "team-a"), Vault(KEY, "team-a")
    assert first.placeholder("PERSON", "Jane Doe") == second.placeholder("PERSON", "jane  DOE")
    assert first.placeholder("PERSON", "Jane Doe") != first.placeholder("PERSON", "John Doe")
    assert Vault(KEY, "team-b").placeholder("PERSON", "Jane Doe") != first.placeholder("PERSON", "Jane Doe")
    other_key = PseudonymKey(b"x" * 32, ephemeral=False)
    assert Vault(other_key, "team-a").placeholder("PERSON", "Jane Doe") != first.placeholder("PERSON", "Jane Doe")
    label = first.placeholder("EMAIL_ADDRESS", "jane@example.org")
    assert label.startswith("<EMAIL_ADDRESS_") and label.endswith(">") and len(label) == len("<EMAIL_ADDRESS_123456>")


def test_two_values_on_one_number_do_not_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PseudonymKey, "number", lambda self, scope, entity, value: 999_999)
    vault = Vault(KEY, "t")
    a, b = vault.placeholder("PERSON", "Ann"), vault.placeholder("PERSON", "Bob")
    assert a == "<PERSON_999999>" and b == "<PERSON_100000>"
    assert vault.value("PERSON_999999") == "Ann" and vault.value("person_100000") == "Bob"


def test_the_key_comes_from_the_environment_or_is_drawn() -> None:
    assert PseudonymKey.from_env({}).ephemeral
    assert not PseudonymKey.from_env({"GATEWAY_PSEUDONYM_SECRET": "s" * 40}).ephemeral
    with pytest.raises(ConfigError, match="at least 32"):
        PseudonymKey.from_env({"GATEWAY_PSEUDONYM_SECRET": "short"})
    assert "s" * 8 not in repr(PseudonymKey.from_env({"GATEWAY_PSEUDONYM_SECRET": "s" * 40}))


def _vault() -> tuple[Vault, str, str]:
    vault = Vault(KEY, "t")
    return vault, vault.placeholder("PERSON", 'Jane "JD" Doe'), vault.placeholder("EMAIL_ADDRESS", "jd@x.org")


def test_restore_tolerates_what_models_do_to_placeholders() -> None:
    vault, person, email = _vault()
    bare = person.strip("<>")
    for written in (person, person.lower(), bare, f"[{bare}]", f"< {bare} >", bare.lower()):
        assert restore(f"Dear {written}, thanks.", vault) == 'Dear Jane "JD" Doe, thanks.'
    assert restore(f"Write to {email}.", vault) == "Write to jd@x.org."
    assert restore("Dear <PERSON_123456>.", vault) == "Dear <PERSON_123456>."  # invented: left alone
    assert restore(f"({person})", vault) == '(Jane "JD" Doe)'


def test_restore_in_json_strings_escapes_the_value() -> None:
    vault, person, _ = _vault()
    arguments = json.dumps({"to": person})
    assert json.loads(restore(arguments, vault, json_string=True)) == {"to": 'Jane "JD" Doe'}


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(0, 200), max_size=12), lower=st.booleans())
def test_a_stream_cut_anywhere_restores_as_the_whole(cuts: list[int], lower: bool) -> None:
    vault, person, email = _vault()
    if lower:
        person = person.lower()
    answer = f"Hi {person}! I wrote to {email} and to {person.strip('<>')}; also <PERSON_123456> and PERSONAL_1."
    points = sorted({min(c, len(answer)) for c in cuts} | {0, len(answer)})
    restorer = StreamRestorer(vault)
    out = "".join(restorer.feed(answer[a:b]) for a, b in itertools.pairwise(points)) + restorer.flush()
    assert out == restore(answer, vault)
    assert "Jane" in out and "jd@x.org" in out and "<PERSON_123456>" in out


def test_a_stream_holds_back_only_what_could_be_a_placeholder() -> None:
    vault, person, _ = _vault()
    restorer = StreamRestorer(vault)
    assert restorer.feed("Hello there, how are") == "Hello there, how are"
    assert restorer.feed(" you <PER") == " you "
    assert restorer.feed(person[4:]) == 'Jane "JD" Doe'
    assert restorer.feed("SON is") == "SON is"  # not one of ours: goes on at once
    assert restorer.flush() == ""


def test_a_bad_secret_stops_the_gateway_at_start_with_one_line() -> None:
    from gateway.cli.preflight import StartupError, check_pseudonym_key

    check_pseudonym_key({})
    with pytest.raises(StartupError, match=r"^pseudonymisation: GATEWAY_PSEUDONYM_SECRET must be at least 32"):
        check_pseudonym_key({"GATEWAY_PSEUDONYM_SECRET": "short"})
