"""Every kind of mistake is reported at once as `file:line:col: key: what was expected`, never with a secret in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.config import ConfigFileError, load_config, parse_config
from crmsync.errors import ConfigError
from tests.unit.config.helpers import ENV, HUBSPOT_ONLY, issues_of

SECRET = "sup3r-s3cret-value"

BROKEN = f"""\
state:
  url: sqlite:///crmsync.db
  pool: 3
connections:
  sf:
    vendor: salesforce
    auth_flow: client_credentials
    client_id: abc
    client_secret: {SECRET}
    colour: blue
  hs:
    vendor: hubspot
    access_token: {{env: HS_TOKEN_MISSING}}
  dv:
    vendor: dynamics
    org_url: https://x.crm.dynamics.com
    tenant_id: t
    client_id: c
    client_secret: {{file: nope/secret}}
  zz:
    vendor: zoho
  ok:
    vendor: hubspot
    access_token: {{env: HS_TOKEN}}
    concurrency: many
objects:
  contact:
    connections: [ok, pipedrive]
    policy: {{prefer: [dv]}}
    fields:
      emial: {{policy: manual}}
    match: [email, nope]
    filter: {{wat: 3}}
    delete: {{policy: archive}}
    extra: 1
  lead: {{}}
  deal:
    policy: newest
mappings:
  contact.x: {{hubspot: x, transform: nosuch}}
colour: red
"""


def test_every_mistake_is_listed_with_file_line_column_and_key(tmp_path: Path) -> None:
    issues = issues_of(BROKEN, base_dir=tmp_path)
    expected = [
        "crmsync.yaml:3:3: state.pool: unknown key 'pool'; expected one of: redis_url, url",
        "crmsync.yaml:9:5: connections.sf.client_secret: a secret cannot be written in the file; use "
        "`client_secret: {env: VARIABLE}`",
        "crmsync.yaml:10:5: connections.sf.colour: unknown key 'colour'; expected one of: api_version, auth_flow,",
        "crmsync.yaml:13:20: connections.hs.access_token.env: environment variable HS_TOKEN_MISSING is not set",
        f"crmsync.yaml:19:21: connections.dv.client_secret.file: cannot read {tmp_path / 'nope' / 'secret'}: "
        "No such file or directory",
        "crmsync.yaml:21:5: connections.zz.vendor: unknown vendor 'zoho'; expected one of: "
        "salesforce, hubspot, dynamics",
        "crmsync.yaml:25:5: connections.ok.concurrency: Input should be a valid integer",
        "crmsync.yaml:28:23: objects.contact.connections.1: unknown connection 'pipedrive'; expected one of: sf, hs, "
        "dv, zz, ok",
        "crmsync.yaml:29:23: objects.contact.policy.prefer.0: 'dv' is not one of this object's connections (ok)",
        "crmsync.yaml:31:7: objects.contact.fields.emial: unknown contact field 'emial'; "
        "expected a mapped field: email,",
        "crmsync.yaml:32:20: objects.contact.match.1: unknown contact field 'nope'",
        "crmsync.yaml:33:14: objects.contact.filter.wat: unknown contact field 'wat'",
        "crmsync.yaml:34:5: objects.contact.delete: the archive policy needs `archive_field: <canonical field>`",
        "crmsync.yaml:35:5: objects.contact.extra: unknown key 'extra'; expected one of: connections, delete, fields, "
        "filter, look_before_create, match, policy",
        "crmsync.yaml:36:3: objects.lead: unknown object kind 'lead'; expected one of: "
        "company, contact, deal, activity",
        "crmsync.yaml:37:3: objects.deal: the default match key [company, name] needs each deal's company, and "
        "`objects:` does not sync company",
        "crmsync.yaml:38:5: objects.deal.policy: expected last_writer_wins, manual or {prefer: [...]} (got 'newest')",
        "crmsync.yaml:40:3: mappings.contact.x.transform: unknown transform 'nosuch'; expected one of:",
        "crmsync.yaml:41:1: colour: unknown key 'colour'; expected one of: state, service, connections, objects, "
        "mappings",
    ]
    assert len(issues) == len(expected), "\n".join(issues)
    for issue, start in zip(issues, expected, strict=True):
        assert issue.startswith(start), f"{issue!r} does not start with {start!r}"


def test_the_error_is_a_config_error_whose_message_lists_everything_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "crmsync.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"HS_TOKEN": "pat-must-not-leak"})
    assert isinstance(caught.value, ConfigFileError)
    message = str(caught.value)
    assert message.startswith("19 mistakes in the configuration:\n")
    assert f"{path}:9:5: connections.sf.client_secret" in message
    assert SECRET not in message and "pat-must-not-leak" not in message
    assert SECRET not in repr(caught.value.issues)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connections:\n  hs:\n    vendor: hubspot\n    access_token: pat-inline-token\n", "pat-inline-token"),
        # A value pydantic rejects for a secret field is not echoed either.
        ("connections:\n  hs:\n    vendor: hubspot\n    access_token: {env: [pat-in-a-list]}\n", "pat-in-a-list"),
        ("state: {url: 'postgresql://u:pg-inline-pass@db/x'}\n" + HUBSPOT_ONLY, "pg-inline-pass"),
    ],
)
def test_inline_secrets_are_refused_without_repeating_them(text: str, expected: str) -> None:
    issues = issues_of(text)
    assert issues
    assert all(expected not in issue for issue in issues), issues


def test_connector_rules_are_reported_at_the_connection() -> None:
    text = "connections:\n  sf:\n    vendor: salesforce\n    auth_flow: session\n"
    assert issues_of(text) == ["crmsync.yaml:2:3: connections.sf: auth_flow 'session' needs session_id, instance_url"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "crmsync.yaml: the file is empty; expected the sections state, service, connections, objects, mappings"),
        ("- a\n", "crmsync.yaml: expected a mapping at the top of the file"),
        ("connections: {a: 1\n", "crmsync.yaml:2:1: not valid YAML"),
        ("objects: {}\n", "crmsync.yaml: connections: expected at least one connection"),
        ("connections: [a]\n", "crmsync.yaml:1:1: connections: expected a mapping of connection names"),
        ("connections:\n  hs: 1\n", "crmsync.yaml:2:3: connections.hs: expected a mapping with `vendor:`"),
        ("connections:\n  hs: {}\n", "crmsync.yaml:2:3: connections.hs: missing required key 'vendor'"),
        ("connections:\n  9x: {vendor: hubspot}\n", "crmsync.yaml:2:3: connections.9x: a connection name starts with"),
        (
            "connections:\n  hs:\n    vendor: hubspot\n    access_token: {env: A, file: b}\n",
            "crmsync.yaml:4:5: connections.hs.access_token: expected exactly one of `env: VARIABLE` or `file: PATH`",
        ),
        (HUBSPOT_ONLY + "objects: [contact]\n", "crmsync.yaml:5:1: objects: expected a mapping of object kinds"),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    connections: [hs, hs]\n",
            "crmsync.yaml:7:23: objects.contact.connections.1: connection 'hs' is listed twice",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    fields:\n      email: {direction: sideways}\n",
            "crmsync.yaml:8:15: objects.contact.fields.email.direction: expected both, none, {to: [...]} or {from: "
            "[...]} (got 'sideways')",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    fields:\n      email: {direction: {to: [hs], from: [hs]}}\n",
            "crmsync.yaml:8:15: objects.contact.fields.email.direction: expected exactly one of both, none",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    policy: prefer\n",
            "crmsync.yaml:7:5: objects.contact.policy: `prefer` lists connections: write `{prefer: [salesforce, "
            "hubspot]}`",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    policy: {kind: manual, prefer: [hs]}\n",
            "crmsync.yaml:7:5: objects.contact.policy: `prefer:` lists connections for the prefer "
            "policy, not for manual",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    policy: {kind: manual, unless: true}\n",
            "crmsync.yaml:7:28: objects.contact.policy.unless: unknown key 'unless'; expected one of: kind, prefer, "
            "unless_blank",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    filter: {email: {like: '%@x'}}\n",
            "crmsync.yaml:7:22: objects.contact.filter.email.like: unknown key 'like'; expected one of: equals, in, "
            "not_equals, not_in, present",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    delete: {policy: ignore, archive_field: title}\n",
            "crmsync.yaml:7:5: objects.contact.delete: `archive_field` is only used by the archive policy, not ignore",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    delete: {mass_delete: {share: 2}}\n",
            "crmsync.yaml:7:28: objects.contact.delete.mass_delete.share: Input should be less than or "
            "equal to 1 (got 2)",
        ),
        (
            HUBSPOT_ONLY + "objects:\n  contact:\n    match: [[]]\n",
            "crmsync.yaml:7:13: objects.contact.match.0: expected a field, or a list of fields that must all be equal",
        ),
        (
            HUBSPOT_ONLY + "mappings:\n  contact:\n    object: {salesforce: Contact}\n"
            "objects:\n  contact:\n    connections: [hs]\n",
            "",  # a valid override of the object name: no mistake
        ),
        (
            HUBSPOT_ONLY + "state: {url: 'not a url'}\n",
            "crmsync.yaml:5:9: state.url: expected a database URL such as sqlite:///crmsync.db",
        ),
        (
            HUBSPOT_ONLY + "state: {url: 'mysql://db/crmsync'}\n",
            "crmsync.yaml:5:9: state.url: unsupported state database 'mysql': use sqlite:///path/crmsync.db or "
            "postgresql://host/db",
        ),
        (
            HUBSPOT_ONLY + "state: {url: 'sqlite:///:memory:'}\n",
            "crmsync.yaml:5:9: state.url: in-memory SQLite keeps no state; name a file",
        ),
    ],
)
def test_each_mistake_names_its_place_and_what_was_expected(text: str, expected: str) -> None:
    if not expected:
        parse_config(text, "crmsync.yaml", environ=ENV)
        return
    issues = issues_of(text)
    assert len(issues) == 1, issues
    assert issues[0].startswith(expected), issues[0]


def test_a_vendor_without_a_field_map_for_the_kind_is_reported() -> None:
    text = (
        HUBSPOT_ONLY
        + "mappings:\n  activity:\n    fields:\n"
        + "".join(
            f"      {name}: {{hubspot: null}}\n" for name in ("subject", "body", "due_date", "status", "priority")
        )
        + "objects:\n  activity: {connections: [hs]}\n  contact: {connections: [hs]}\n"
    )
    assert issues_of(text) == [
        "crmsync.yaml:14:28: objects.activity.connections.0: hubspot has no field map for activity; add one under "
        "`mappings: activity:`"
    ]


def test_a_match_key_naming_a_parent_not_synced_is_reported() -> None:
    """A record linked to such a parent would wait for it at every sync: the key could never be made."""
    text = HUBSPOT_ONLY + "objects:\n  contact: {match: [email, [company, last_name]]}\n  activity: {}\n"
    assert issues_of(text) == [
        "crmsync.yaml:6:29: objects.contact.match.1.0: company is a parent `objects:` does not sync: a contact "
        "linked to a company would wait for it at every sync; add `company: {}` under objects, or leave company "
        "out of the key",
    ]
    assert issues_of(HUBSPOT_ONLY + "objects:\n  activity: {}\n") == [
        "crmsync.yaml:6:3: objects.activity: the default match key [contact, subject, due_date] needs each "
        "activity's contact, and `objects:` does not sync contact: an activity linked to a contact would wait for "
        "it at every sync; add `contact: {}` under objects, or give activity a `match:` without contact",
    ]
    synced = parse_config(HUBSPOT_ONLY + "objects:\n  contact: {}\n  activity: {}\n", "crmsync.yaml", environ=ENV)
    assert synced.kinds == ("contact", "activity")


def test_look_before_create_is_on_where_records_match_by_email_and_asked_for_elsewhere_is_reported() -> None:
    """The look-up before a create is by email: on by default for contacts, off for companies, refused where no
    match key is the email alone."""
    parsed = parse_config(HUBSPOT_ONLY + "objects:\n  contact: {}\n  company: {}\n", "crmsync.yaml", environ=ENV)
    assert parsed.object("contact").look_before_create and not parsed.object("company").look_before_create
    off = parse_config(HUBSPOT_ONLY + "objects:\n  contact: {look_before_create: false}\n", "crmsync.yaml", environ=ENV)
    assert not off.object("contact").look_before_create
    assert issues_of(HUBSPOT_ONLY + "objects:\n  company: {look_before_create: true}\n") == [
        "crmsync.yaml:6:13: objects.company.look_before_create: look_before_create looks records up by email: it "
        "needs `email` alone as one of the match keys"
    ]
    assert issues_of(HUBSPOT_ONLY + "objects:\n  contact: {look_before_create: maybe}\n")[0].startswith(
        "crmsync.yaml:6:13: objects.contact.look_before_create: Input should be a valid boolean"
    )


def test_a_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"cannot read: No such file or directory; `crmsync init` writes"):
        load_config(tmp_path / "crmsync.yaml")


def test_a_sqlite_file_in_a_missing_folder_is_named_with_its_place(tmp_path: Path) -> None:
    issues = issues_of(HUBSPOT_ONLY + "state: {url: 'sqlite:///nodir/x.db'}\n", base_dir=tmp_path)
    assert issues == [
        f"crmsync.yaml:5:9: state.url: the folder {tmp_path / 'nodir'} of the SQLite state database x.db "
        "does not exist: create it first"
    ]
    (tmp_path / "taken.db").mkdir()
    (issue,) = issues_of(HUBSPOT_ONLY + "state: {url: 'sqlite:///taken.db'}\n", base_dir=tmp_path)
    assert issue.endswith(f"the SQLite state database {tmp_path / 'taken.db'} is a directory; name a file in it")


def test_a_mistake_in_one_field_map_does_not_make_the_other_custom_fields_unknown() -> None:
    """Only the broken entry is reported; a typo in `objects:` still is, against the fields the section declares."""
    text = HUBSPOT_ONLY + (
        "objects:\n"
        "  contact:\n"
        "    fields: {favourite_colour: {policy: manual}}\n"
        "    filter: {tier: {equals: gold}, teir: {equals: gold}}\n"
        "mappings:\n"
        "  contact.favourite_colour: {hubspot: favourite_colour}\n"
        "  contact.tier: {hubspt: {field: tier}}\n"
    )
    issues = issues_of(text)
    assert [issue.split(": ")[1] for issue in issues] == ["objects.contact.filter.teir", "mappings.contact.tier.hubspt"]
    assert "unknown key 'hubspt'" in issues[1]


def test_a_filter_value_no_value_map_reads_is_reported_with_the_values_it_can_be() -> None:
    """Filters test canonical values: `Web` (Salesforce's) or a typo would never match, filtering silently."""
    text = (
        "connections:\n"
        "  sf:\n"
        "    vendor: salesforce\n"
        "    auth_flow: client_credentials\n"
        "    client_id: app\n"
        "    client_secret: {env: HS_TOKEN}\n"
        "objects:\n"
        "  contact:\n"
        "    filter: {lead_source: {in: [web, Web]}, title: {equals: Intern}}\n"
    )
    issues = issues_of(text)
    assert len(issues) == 1, issues
    assert issues[0].startswith(
        "crmsync.yaml:9:38: objects.contact.filter.lead_source.in.1: 'Web' is not a contact.lead_source value "
        "the value maps read; expected one of: advertisement, employee_referral,"
    )
