"""`render_mappings`: the field maps as Markdown, for the shipped defaults and for a configuration."""

from __future__ import annotations

import pytest

from crmsync.cli.mappings import render_mappings
from crmsync.config import SyncConfig, parse_config
from crmsync.mapping import default_mappings, parse_mappings
from crmsync.model.values import OBJECT_KINDS


def section(text: str, kind: str) -> str:
    """The Markdown of one object kind's section."""
    start = text.index(f"\n## {kind}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot", "dynamics"])
def test_the_defaults_show_every_field_of_every_vendor(vendor: str) -> None:
    text = render_mappings(default_mappings())
    for object_map in default_mappings():
        if object_map.vendor != vendor:
            continue
        part = section(text, object_map.kind)
        assert f"`{object_map.object}`" in part
        for rule in object_map.rules:
            for name in rule.vendor:
                assert f"`{name}`" in part, (object_map.kind, name)
            assert rule.origin and rule.origin in part


def test_the_defaults_have_one_section_per_kind_and_vendor_columns() -> None:
    text = render_mappings(default_mappings())
    assert text.startswith("# crmsync field maps\n")
    assert "from the shipped defaults" in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        *(f"## {kind}" for kind in OBJECT_KINDS),
        "## Transforms",
    ]
    assert "| canonical field | Salesforce | HubSpot | Dataverse |" in section(text, "contact")
    email = next(r for r in default_mappings().get("salesforce", "contact").rules if r.canonical == ("email",))
    assert f"| **email** | `{email.vendor[0]}` · email |" in text


STAGES = """
deal:
  object: {salesforce: Opportunity, hubspot: deals, dynamics: task}
  fields:
    stage:
      salesforce:
        field: StageName
        values: {Closed Won: [closed_won, renewed], Prospecting: prospecting}
      hubspot:
        field: [pipeline, dealstage]
        transform: join
        values:
          "default:closedwon": closed_won
          "default:new": prospecting
          "renewals:won": renewed
          "renewals:due": renewal_due
      dynamics:
        field: [statecode, statuscode]
        transform: join
        options: {ints: true}
        values: {"1:5": closed_won}
"""


def test_value_maps_show_the_written_value_and_what_is_not_written() -> None:
    text = render_mappings(parse_mappings(STAGES, "stages.yaml", defaults=False))
    stage = text.split("#### deal.stage")[1]
    columns = "Salesforce `StageName` | HubSpot `pipeline` + `dealstage` | Dataverse `statecode` + `statuscode`"
    assert f"| canonical value | {columns} |" in stage
    assert "| `closed_won` | **`Closed Won`** | **`default:closedwon`** | **`1:5`** |" in stage
    # Renewed is written as Closed Won in Salesforce, which reads back as closed_won.
    assert (
        "| `renewed` | **`Closed Won`** (read back as `closed_won`) | **`renewals:won`** | — (not written) |" in stage
    )
    assert "| `renewal_due` | — (not written) | **`renewals:due`** | — (not written) |" in stage
    assert "`statecode` + `statuscode` · join (ints) · value map" in text


def test_a_value_written_blank_on_purpose_says_so() -> None:
    text = STAGES.replace(
        'values: {"1:5": closed_won}', 'values: {"1:5": closed_won, "2:6": churned}\n        blank_for: [renewal_due]'
    )
    stage = render_mappings(parse_mappings(text, "stages.yaml", defaults=False)).split("#### deal.stage")[1]
    assert "| `renewal_due` | — (not written) | **`renewals:due`** | *written blank* |" in stage


def test_kinds_narrow_the_output() -> None:
    text = render_mappings(default_mappings(), kinds=["deal"])
    assert "\n## deal\n" in text and "\n## contact\n" not in text


def test_bare_mappings_render_the_vendors_they_map() -> None:
    maps = parse_mappings(
        "contact.favourite_colour: {salesforce: Favourite_Colour__c, hubspot: {field: colour, direction: from}}\n"
        "contact:\n  object: {salesforce: Contact, hubspot: contacts}\n",
        "mine.yaml",
        defaults=False,
    )
    text = render_mappings(maps)
    assert "from the given field maps" in text
    assert "| canonical field | Salesforce | HubSpot |" in text
    assert "| **favourite_colour** | `Favourite_Colour__c` | `colour` · read only |" in text
    assert "| contact.favourite_colour | mine.yaml:1 | mine.yaml:1 |" in text


CONFIG = """\
connections:
  sf:
    vendor: salesforce
    auth_flow: client_credentials
    login_url: https://example.my.salesforce.com
    client_id: app
    client_secret: {env: SF_SECRET}
  hs:
    vendor: hubspot
    access_token: {env: HS_TOKEN}
objects:
  contact:
    connections: [sf, hs]
    policy: {prefer: [sf]}
    fields:
      email: {policy: {prefer: [hs], unless_blank: true}}
      lead_source: {direction: {from: [sf]}}
mappings:
  contact.title: {salesforce: Title, hubspot: {field: jobtitle, direction: to}}
"""


def config() -> SyncConfig:
    return parse_config(CONFIG, "crmsync.yaml", environ={"SF_SECRET": "very-secret-1", "HS_TOKEN": "pat-secret-2"})


def test_a_config_renders_its_connections_objects_and_sync_rules() -> None:
    text = render_mappings(config())
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## contact", "## Transforms"]
    contact = section(text, "contact")
    assert (
        "Synced with sf, hs. Conflicts: prefer sf. Records meet by email. Deletes: propagate; held when one run "
        "deletes more than 5% of them and at least 100." in contact
    )
    assert "| canonical field | sf (Salesforce) | hs (HubSpot) | sync rules |" in contact
    assert "| **email** | `Email` · email | `email` · email | policy prefer hs, unless blank |" in contact
    assert "| **lead_source** | `LeadSource` · value map | — | direction from sf |" in contact
    # The user's override replaces the default rule and says where it was written.
    assert "| **title** | `Title` | `jobtitle` · written only |  |" in contact
    assert "| contact.title | crmsync.yaml:19 | crmsync.yaml:19 |" in contact
    assert "very-secret-1" not in text and "pat-secret-2" not in text


def test_the_filter_and_the_delete_policy_are_rendered_with_the_fields() -> None:
    """Both decide what syncs: a filtered or archiving object rendered without them hid that from the reader."""
    text = CONFIG.replace(
        "      lead_source: {direction: {from: [sf]}}\n",
        "      lead_source: {direction: {from: [sf]}}\n"
        "    filter: {email: {present: true}, lead_source: {not_in: [web, other]}}\n"
        "    delete: {policy: archive, archive_field: title, archive_value: gone,\n"
        "             mass_delete: {share: 0.001, min: 3}}\n",
    )
    environ = {"SF_SECRET": "very-secret-1", "HS_TOKEN": "pat-secret-2"}
    contact = section(render_mappings(parse_config(text, "crmsync.yaml", environ=environ)), "contact")
    assert (
        "Records meet by email. Only records that match when first met: email is present and lead_source is none "
        "of `web`, `other`. Deletes: archive (title set to `gone`); held when one run deletes more than 0.1% of "
        "them and at least 3." in contact
    )
