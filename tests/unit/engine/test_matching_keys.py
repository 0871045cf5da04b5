"""Unit tests of match keys: normalisers, key specs from configuration, first usable spec, blanks never match."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime

import pytest

from crmsync.engine.matching_keys import (
    DEFAULT_MATCH_KEYS,
    FieldPart,
    KeySpec,
    LinkPart,
    MatchKey,
    match_key,
    normalise_date,
    normalise_domain,
    normalise_email,
    normalise_name,
    normalise_text,
    normalise_value,
    parse_key_spec,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Ann.Lee@Example.COM ", "ann.lee@example.com"), ("", None), ("   ", None), (None, None), (3, None)],
)
def test_email_is_trimmed_and_casefolded_and_blank_is_none(raw: str | int | None, expected: str | None) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ACME.com", "acme.com"),
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("acme.com.", "acme.com"),
        ("http://acme.com:8080", "acme.com"),
        (" ", None),
        (None, None),
    ],
)
def test_domain_is_a_bare_host(raw: str | None, expected: str | None) -> None:
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme, Inc.", "acme"),
        ("ACME  LLC", "acme"),
        ("Acme GmbH & Co. KG", "acme"),
        ("Acme Holdings Ltd", "acme holdings"),
        ("A.C.M.E. L.L.C.", "acme"),
        ("Müller GmbH", "müller"),
        ("Limited", "limited"),
        ("王小明 Ltd", "王小明"),
        ("  ", None),
    ],
)
def test_company_name_drops_case_punctuation_and_legal_suffixes(raw: str, expected: str | None) -> None:
    assert normalise_name(raw) == expected


def test_text_date_and_value_normalisers() -> None:
    assert normalise_text("  Big   Deal ") == "big deal"
    assert normalise_date(datetime(2024, 3, 1, 15, tzinfo=UTC)) == normalise_date(date(2024, 3, 1)) == "2024-03-01"
    assert normalise_date("") is None
    assert normalise_value(()) is None
    assert normalise_value(("a", "b")) != normalise_value("a b")
    assert normalise_value(7) == "7"


def test_companies_match_by_domain_else_name() -> None:
    specs = DEFAULT_MATCH_KEYS["company"]
    with_domain = match_key("company", specs, {"domain": "ACME.com", "name": "Acme"}, {})
    without = match_key("company", specs, {"domain": None, "name": "Acme Inc."}, {})
    assert with_domain == MatchKey("company", "domain", ("acme.com",))
    assert without == MatchKey("company", "name", ("acme",))
    assert match_key("company", specs, {"domain": "", "name": " "}, {}) is None


def test_deal_key_needs_its_parents_resolved() -> None:
    specs = DEFAULT_MATCH_KEYS["deal"]
    fields = {"name": "Renewal 2024"}
    assert match_key("deal", specs, fields, {"company": ("c1",)}) == MatchKey(
        "deal", "company_name", ("c1", "renewal 2024")
    )
    # A company not linked yet: fall back to the contact, else no key at all.
    assert match_key("deal", specs, fields, {"company": None, "contact": ("p1",)}) == MatchKey(
        "deal", "contact_name", ("p1", "renewal 2024")
    )
    assert match_key("deal", specs, fields, {"company": None, "contact": ()}) is None


def test_parse_key_spec_reads_links_fields_and_normalisers() -> None:
    spec = parse_key_spec("activity", ["@contact", "subject", "due_date:date"])
    assert spec == KeySpec(
        "@contact+subject+due_date:date",
        (LinkPart("contact"), FieldPart("subject", "text"), FieldPart("due_date", "date")),
    )
    assert parse_key_spec("company", ["name"], "by_name").parts == (FieldPart("name", "name"),)
    assert parse_key_spec("contact", ["email"]).parts == (FieldPart("email", "email"),)


@pytest.mark.parametrize("parts", [["@"], [":text"], ["email:soundex"]])
def test_parse_key_spec_refuses_bad_parts(parts: list[str]) -> None:
    with pytest.raises(ValueError, match="match key part"):
        parse_key_spec("contact", parts)


def test_key_spec_needs_parts_and_known_normalisers() -> None:
    with pytest.raises(ValueError, match="no parts"):
        KeySpec("empty", ())
    with pytest.raises(ValueError, match="unknown normaliser"):
        FieldPart("email", "soundex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown object kind"):
        parse_key_spec("lead", ["email"])  # type: ignore[arg-type]


@pytest.mark.parametrize("module", ["matching", "matching_keys", "matching_merge"])
def test_public_names_exist_once(module: str) -> None:
    imported = importlib.import_module(f"crmsync.engine.{module}")
    names = list(imported.__all__)
    assert len(set(names)) == len(names)
    assert [name for name in names if not hasattr(imported, name)] == []
