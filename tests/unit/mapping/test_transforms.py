"""Each transform on its own: normalisation, inverses, flags, and the equivalences of scenario S10."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from crmsync.mapping import OMIT, TransformError, build_transform


def inbound(name: str, *raw: Any, **options: Any) -> Any:
    values = build_transform(name, options, len(raw), 1).inbound(raw)
    return values[0]


def test_text_trims_and_blanks_to_none() -> None:
    assert inbound("text", "  Acme  ") == "Acme"
    assert inbound("text", "   ") is None
    assert inbound("text", None) is None
    assert inbound("text", 42) == "42"


def test_text_composes_unicode_so_equal_names_compare_equal() -> None:
    decomposed = "Jose\u0301 Mu\u0308ller"
    assert inbound("text", decomposed) == inbound("text", "José Müller") == "José Müller"
    assert inbound("text", " 王小明 ") == "王小明"


def test_email_lower_cased_and_invalid_flagged_but_kept() -> None:
    transform = build_transform("email", {}, 1, 1)
    assert transform.inbound([" Jose@ACME.com "]) == ("jose@acme.com",)
    assert transform.flag(("jose@acme.com",)) is None
    assert transform.inbound(["not-an-email"]) == ("not-an-email",)
    assert "not a valid email" in (transform.flag(("not-an-email",)) or "")


@pytest.mark.parametrize("raw", ["(415) 555-0100", "+14155550100", "415.555.0100", "+1 415 555 0100", "4155550100"])
def test_phone_spellings_are_one_e164_number(raw: str) -> None:
    assert inbound("phone", raw) == "+14155550100"


def test_phone_default_region_reads_national_numbers() -> None:
    assert inbound("phone", "030 12345678", region="DE") == "+493012345678"


def test_phone_written_in_the_vendors_format_reads_back_equal() -> None:
    national = build_transform("phone", {"output": "national", "region": "DE"}, 1, 1)
    for number in ("+493012345678", "+14155550100"):
        written = national.outbound((number,))
        assert national.inbound(written) == (number,)
    assert national.outbound(("+493012345678",)) == ("030 12345678",)


def test_unreadable_phone_is_kept_and_flagged() -> None:
    transform = build_transform("phone", {}, 1, 1)
    assert transform.inbound(["ask reception"]) == ("ask reception",)
    assert transform.outbound(("ask reception",)) == ("ask reception",)
    assert transform.flag(("ask reception",)) is not None


@pytest.mark.parametrize(
    ("raw", "code"),
    [("USA", "US"), ("U.S.A.", "US"), ("united states", "US"), ("us", "US"), ("Deutschland", "DE"), ("UK", "GB")],
)
def test_country_names_and_variants_become_iso_codes(raw: str, code: str) -> None:
    assert inbound("country", raw) == code


def test_country_written_as_name_or_code() -> None:
    assert build_transform("country", {}, 1, 1).outbound(("DE",)) == ("Germany",)
    assert build_transform("country", {"output": "code"}, 1, 1).outbound(("DE",)) == ("DE",)
    unknown = build_transform("country", {}, 1, 1)
    assert unknown.inbound(["Atlantis"]) == ("Atlantis",)
    assert unknown.flag(("Atlantis",)) is not None


@pytest.mark.parametrize(
    "raw", ["ACME.com", "acme.com", "https://www.acme.com/about", "http://ACME.COM:8080", "www.acme.com.", "acme.com/x"]
)
def test_domain_from_any_website_spelling(raw: str) -> None:
    assert inbound("domain", raw) == "acme.com"


def test_domain_output_as_url() -> None:
    assert build_transform("domain", {"output": "url"}, 1, 1).outbound(("acme.com",)) == ("https://acme.com",)


def test_name_split_and_join_are_inverses() -> None:
    split = build_transform("name_split", {}, 1, 2)
    assert split.inbound(["  Mary Ann  Smith "]) == ("Mary Ann", "Smith")
    assert split.inbound(["王小明"]) == (None, "王小明")
    assert split.outbound(("Mary Ann", "Smith")) == ("Mary Ann Smith",)
    join = build_transform("name_join", {}, 2, 1)
    assert join.inbound([" José ", "Müller"]) == ("José Müller",)
    assert join.outbound(("José Müller",)) == ("José", "Müller")
    assert join.inbound([None, None]) == (None,)


def test_dates_from_every_vendor_spelling() -> None:
    assert inbound("date", "2024-05-01") == date(2024, 5, 1)
    assert inbound("date", "2024-05-01T00:00:00Z") == date(2024, 5, 1)
    assert inbound("date", "1714521600000") == date(2024, 5, 1)
    # 23:30 UTC on 30 April is already 1 May in Berlin.
    assert inbound("date", "2024-04-30T23:30:00Z", timezone="Europe/Berlin") == date(2024, 5, 1)


def test_date_written_as_midnight_datetime_or_epoch() -> None:
    assert build_transform("date", {"output": "datetime"}, 1, 1).outbound((date(2024, 5, 1),)) == (
        "2024-05-01T00:00:00.000Z",
    )
    assert build_transform("date", {"output": "epoch_ms"}, 1, 1).outbound((date(2024, 5, 1),)) == (1714521600000,)


def test_datetimes_to_utc_with_millisecond_precision() -> None:
    expected = datetime(2024, 1, 31, 14, 5, 0, 123000, tzinfo=UTC)
    assert inbound("datetime", "2024-01-31T14:05:00.123+0000") == expected
    assert inbound("datetime", "2024-01-31T15:05:00.123456+01:00") == expected
    assert inbound("datetime", str(int(expected.timestamp() * 1000))) == expected
    assert inbound("datetime", "2024-01-31T09:05:00.123", timezone="America/New_York") == expected
    salesforce = build_transform("datetime", {"output": "salesforce"}, 1, 1)
    assert salesforce.outbound((expected,)) == ("2024-01-31T14:05:00.123+0000",)


def test_bad_dates_raise_transform_errors() -> None:
    with pytest.raises(TransformError):
        inbound("date", "next tuesday")
    with pytest.raises(TransformError):
        inbound("datetime", "soon")


def test_numbers_as_strings_equal_numbers() -> None:
    assert inbound("number", "1000") == inbound("number", 1000.0) == inbound("number", 1000) == 1000
    assert inbound("number", "1,000.50") == 1000.5
    assert inbound("number", "12.346", scale=2) == 12.35
    assert build_transform("number", {"output": "string"}, 1, 1).outbound((1000.5,)) == ("1000.5",)
    with pytest.raises(TransformError):
        inbound("number", "12.5", integer=True)
    with pytest.raises(TransformError):
        inbound("number", "lots")


def test_booleans() -> None:
    assert inbound("boolean", "true") is True
    assert inbound("boolean", "No") is False
    assert inbound("boolean", 1) is True
    assert build_transform("boolean", {"output": "string"}, 1, 1).outbound((False,)) == ("false",)
    with pytest.raises(TransformError):
        inbound("boolean", "maybe")


def test_multiselect_semicolon_strings_and_option_set_lists_become_sorted_tuples() -> None:
    assert inbound("multiselect", "b;a; c;a") == ("a", "b", "c")
    assert inbound("multiselect", "") is None
    dataverse = build_transform("multiselect", {"separator": ",", "ints": True}, 1, 1)
    assert dataverse.inbound([[3, 1]]) == (("1", "3"),)
    assert dataverse.inbound(["3,1"]) == (("1", "3"),)
    assert dataverse.outbound((("1", "3"),)) == ("1,3",)
    listed = build_transform("multiselect", {"output": "list", "ints": True}, 1, 1)
    assert listed.outbound((("1", "3"),)) == ([1, 3],)


def test_compound_address_parts() -> None:
    options = {"parts": ["street", "city", "country"], "part_transforms": {"country": "country"}}
    transform = build_transform("compound", options, 1, 3)
    raw = {"street": " 1 Main St ", "city": "Springfield", "country": "USA", "latitude": None}
    assert transform.inbound([raw]) == ("1 Main St", "Springfield", "US")
    assert transform.outbound(("1 Main St", "Springfield", "US")) == (
        {"street": "1 Main St", "city": "Springfield", "country": "United States"},
    )
    assert transform.inbound([None]) == (None, None, None)


def test_join_and_split_of_keys() -> None:
    transform = build_transform("join", {"ints": True}, 2, 1)
    assert transform.inbound([0, 2]) == ("0:2",)
    assert transform.outbound(("0:2",)) == (0, 2)
    assert transform.inbound([None, None]) == (None,)
    with pytest.raises(TransformError):
        transform.outbound(("1:2:3",))


def test_opportunity_state() -> None:
    transform = build_transform("opportunity_state", {}, 3, 1)
    assert transform.inbound([1, 3, 0]) == ("won",)
    assert transform.inbound([2, 5, 1]) == ("lost",)
    assert transform.inbound([0, 2, 1]) == ("open:1",)
    assert transform.inbound([0, 1, None]) == ("open:",)
    assert transform.outbound(("won",)) == (1, 3, 3)
    assert transform.outbound(("lost",)) == (2, 4, OMIT)
    assert transform.outbound(("open:2",)) == (0, OMIT, 2)


@pytest.mark.parametrize(
    ("name", "options", "arity", "expected"),
    [
        ("phonee", {}, (1, 1), "unknown transform 'phonee'; expected one of"),
        ("phone", {"region": "XX"}, (1, 1), "unknown phone region"),
        ("phone", {"colour": "red"}, (1, 1), "colour: Extra inputs are not permitted"),
        ("date", {"timezone": "Mars/Olympus"}, (1, 1), "unknown time zone"),
        ("name_split", {}, (1, 1), "takes 1 vendor field(s) and 2 canonical field(s)"),
        ("join", {}, (1, 1), "joins 2 or more vendor fields"),
        ("compound", {"parts": ["a", "b"]}, (1, 3), "reads 1 compound vendor field into 2"),
    ],
)
def test_bad_transform_settings_say_what_was_expected(
    name: str, options: dict[str, Any], arity: tuple[int, int], expected: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        build_transform(name, options, *arity)
