"""Field-map files: custom fields in one line, overrides of the defaults, and errors naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.errors import ConfigError
from crmsync.mapping import MappingConfigError, load_mappings, parse_mappings


def issues_of(text: str) -> list[str]:
    with pytest.raises(MappingConfigError) as caught:
        parse_mappings(text, "crmsync.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_custom_field_in_one_line() -> None:
    text = "contact.favourite_colour: {salesforce: Favourite_Colour__c, hubspot: favourite_colour, dynamics: new_fc}\n"
    mappings = parse_mappings(text)
    fields, problems = mappings.map_in("salesforce", "contact", {"Favourite_Colour__c": " Teal "})
    assert fields == {"favourite_colour": "Teal"}
    assert problems == ()
    assert mappings.map_out("dynamics", "contact", {"favourite_colour": "Teal"}).fields == {"new_fc": "Teal"}
    # The standard fields are still there.
    assert mappings.map_in("hubspot", "contact", {"email": "A@B.co"}).fields == {"email": "a@b.co"}


def test_user_entry_overrides_one_vendor_and_null_switches_a_field_off() -> None:
    text = """
contact:
  fields:
    phone:
      transform: phone
      options: {region: GB, output: national}
      hubspot: phone
    title: null
"""
    mappings = parse_mappings(text)
    assert mappings.map_in("hubspot", "contact", {"phone": "020 7946 0958"}).fields == {"phone": "+442079460958"}
    assert mappings.map_out("hubspot", "contact", {"phone": "+442079460958"}).fields == {"phone": "020 7946 0958"}
    # Salesforce keeps the shipped rule (US region, E.164).
    assert mappings.map_in("salesforce", "contact", {"Phone": "(415) 555-0100"}).fields == {"phone": "+14155550100"}
    assert "title" not in mappings.get("salesforce", "contact").canonical_fields


def test_directions_limit_reads_and_writes() -> None:
    text = """
contact.score:
  transform: number
  salesforce: {field: Score__c, direction: from}
  hubspot: {field: score, direction: to, options: {output: string}}
"""
    mappings = parse_mappings(text)
    assert mappings.map_in("salesforce", "contact", {"Score__c": 5}).fields == {"score": 5}
    assert mappings.map_out("salesforce", "contact", {"score": 5}).fields == {}
    assert mappings.map_in("hubspot", "contact", {"score": "5"}).fields == {}
    assert mappings.map_out("hubspot", "contact", {"score": 5}).fields == {"score": "5"}


def test_errors_name_file_line_key_and_expectation() -> None:
    text = """contact:
  fields:
    email:
      transform: emial
      salesforce: Email
    phone:
      salesfroce: Phone
    colour:
      direction: sideways
      hubspot: colour
"""
    issues = issues_of(text)
    assert any(
        issue.startswith("crmsync.yaml:7:7: contact.fields.phone.salesfroce: unknown key 'salesfroce'; expected one of")
        and "salesforce" in issue
        for issue in issues
    ), issues
    assert any(
        issue.startswith("crmsync.yaml:9:7: contact.fields.colour.direction:")
        and "'both', 'to', 'from' or 'none'" in issue
        for issue in issues
    ), issues


def test_semantic_errors_are_all_listed_with_their_lines() -> None:
    text = """contact:
  fields:
    email:
      transform: emial
      salesforce: Email
    full_name:
      transform: name_split
      hubspot: [firstname, lastname]
"""
    issues = issues_of(text)
    assert len(issues) == 2
    assert issues[0].startswith("crmsync.yaml:4:7: contact.fields.email.transform: unknown transform 'emial'")
    assert "expected one of" in issues[0]
    assert issues[1].startswith("crmsync.yaml:7:7: contact.fields.full_name.transform:")
    assert "takes 1 vendor field(s) and 2 canonical field(s), not 2 and 1" in issues[1]


def test_one_line_custom_field_errors_point_at_its_own_line() -> None:
    text = "deal.priority_x: {salesforce: {field: P__c, transform: nope}}\n"
    (issue,) = issues_of(text)
    assert issue.startswith("crmsync.yaml:1:1: deal.priority_x.salesforce.transform: unknown transform 'nope'")


def test_duplicate_keys_and_yaml_syntax_errors_have_lines() -> None:
    duplicate = "contact:\n  fields:\n    email: {salesforce: Email}\n    email: {hubspot: email}\n"
    assert issues_of(duplicate) == ["crmsync.yaml:4:5: contact.fields.email: duplicate key; write it once"]
    (syntax,) = issues_of("contact:\n  fields: [unclosed\n")
    assert syntax.startswith("crmsync.yaml:3:") and "not valid YAML" in syntax


def test_two_rules_writing_one_vendor_field_are_refused() -> None:
    text = "contact.nickname: {salesforce: FirstName}\n"
    (issue,) = issues_of(text)
    assert "vendor field 'FirstName' is already written by entry 'first_name'" in issue
    assert issue.startswith("crmsync.yaml:1:1:")


def test_unknown_kind_and_missing_object_name() -> None:
    issues = issues_of("lead.source: {salesforce: LeadSource}\n")
    assert issues == [
        "crmsync.yaml:1:1: lead.source: unknown object kind 'lead'; expected one of "
        "('company', 'contact', 'deal', 'activity')"
    ]


def test_object_name_is_required_for_a_new_vendor_section() -> None:
    with pytest.raises(MappingConfigError) as caught:
        parse_mappings("contact.colour: {salesforce: Colour__c}\n", "x.yaml", defaults=False)
    assert "no salesforce object for contact" in str(caught.value)


def test_error_is_a_config_error_listing_every_mistake(tmp_path: Path) -> None:
    path = tmp_path / "maps.yaml"
    path.write_text(
        "contact:\n  fields:\n    a: {salesforce: {field: A, transform: x}}\n    b: {hubspot: {bogus: 1}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_mappings(path)
    message = str(caught.value)
    assert message.startswith("3 mistakes in the field maps:")
    assert f"{path}:3:32: contact.fields.a.salesforce.transform: unknown transform 'x'" in message
    assert f"{path}:4:9: contact.fields.b.hubspot: missing required key 'field'" in message
    assert f"{path}:4:19: contact.fields.b.hubspot.bogus: unknown key 'bogus'" in message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MappingConfigError, match="cannot read"):
        load_mappings(tmp_path / "absent.yaml")


def test_blank_for_writes_a_value_the_vendor_lacks_as_blank_and_never_as_an_entry_read_as_it() -> None:
    text = """company:
  fields:
    industry:
      hubspot:
        field: industry
        values: {COMPUTER_SOFTWARE: technology, LAW_PRACTICE: other, LEGAL_SERVICES: other}
        blank_for: [other]
"""
    mappings = parse_mappings(text)
    # Read as other, as the table says ...
    assert mappings.map_in("hubspot", "company", {"industry": "LAW_PRACTICE"}).fields == {"industry": "other"}
    # ... but other is written blank, on purpose: no error, and no law practice made of it.
    written = mappings.map_out("hubspot", "company", {"industry": "other"})
    assert (written.fields, written.problems) == ({"industry": None}, ())
    assert mappings.map_out("hubspot", "company", {"industry": "technology"}).fields == {
        "industry": "COMPUTER_SOFTWARE"
    }
    # A value neither listed nor declared blank is still reported (S20), pointing at the user's own rule.
    (problem,) = mappings.map_out("hubspot", "company", {"industry": "retail"}).problems
    assert problem.code == "unmapped_value" and "add it to the value map of the rule at <mappings>:" in problem.message


def test_blank_for_drops_the_blank_options_of_a_multi_select() -> None:
    text = """contact:
  fields:
    interests:
      salesforce:
        field: Interests__c
        transform: multiselect
        values: {Golf: golf, Chess: chess}
        blank_for: [darts]
"""
    mappings = parse_mappings(text)
    assert mappings.map_out("salesforce", "contact", {"interests": ("darts", "golf")}).fields == {
        "Interests__c": "Golf"
    }
    assert mappings.map_out("salesforce", "contact", {"interests": ("darts",)}).fields == {"Interests__c": None}


def test_blank_for_needs_a_value_map() -> None:
    text = """company:
  fields:
    industry:
      hubspot: {field: industry, blank_for: [other]}
"""
    [issue] = issues_of(text)
    assert issue.startswith("crmsync.yaml:")
    assert "company.fields.industry.hubspot.blank_for: blank_for needs a value map (values) beside it" in issue
