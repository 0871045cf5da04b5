"""Valid configurations: defaults for every kind, policies, directions, match keys, filters, deletes, state URL."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from crmsync.config import Condition, MassDeleteBreaker, RecordFilter, load_config
from crmsync.config.objects import DEFAULT_MATCH
from crmsync.connectors.dynamics.settings import DynamicsSettings
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.model.rules import Direction, Policy
from crmsync.model.values import OBJECT_KINDS
from tests.unit.config.helpers import ENV, HUBSPOT_ONLY, parse

THREE = """\
connections:
  sf:
    vendor: salesforce
    auth_flow: client_credentials
    login_url: https://acme.my.salesforce.com/
    client_id: consumer-key
    client_secret: {env: SF_SECRET}
  hs:
    vendor: hubspot
    access_token: {env: HS_TOKEN}
  dv:
    vendor: dynamics
    org_url: https://contoso.crm.dynamics.com
    tenant_id: tenant
    client_id: app
    client_secret: {env: DV_SECRET}
"""
THREE_ENV = {**ENV, "SF_SECRET": "sf-s3cret", "DV_SECRET": "dv-s3cret"}


def test_connections_become_connector_settings_with_secret_strings(tmp_path: Path) -> None:
    config = parse(THREE, THREE_ENV, tmp_path)
    sf, hs, dv = (config.connection(name) for name in ("sf", "hs", "dv"))
    assert isinstance(sf.settings, SalesforceSettings) and sf.vendor == "salesforce"
    assert sf.settings.login_url == "https://acme.my.salesforce.com"  # the connector's own validators ran
    assert sf.settings.client_secret == SecretStr("sf-s3cret")
    assert isinstance(hs.settings, HubSpotSettings) and hs.settings.access_token == SecretStr(ENV["HS_TOKEN"])
    assert isinstance(dv.settings, DynamicsSettings) and dv.settings.client_secret.get_secret_value() == "dv-s3cret"


def test_without_objects_all_four_kinds_sync_everywhere_with_defaults(tmp_path: Path) -> None:
    config = parse(THREE, THREE_ENV, tmp_path)
    assert config.kinds == OBJECT_KINDS
    for kind in OBJECT_KINDS:
        settings = config.object(kind)
        assert settings.connections == ("sf", "hs", "dv")
        assert settings.match == DEFAULT_MATCH[kind]
        assert settings.delete.kind == "propagate"
        assert settings.delete.mass_delete == MassDeleteBreaker(0.05, 100)
        assert settings.filter == RecordFilter()
        rules = config.rules_for(kind)
        assert rules.connections == ("sf", "hs", "dv")
        assert rules.policy == Policy.last_writer_wins()
        # Each connection maps the canonical fields its vendor's field map holds.
        for name in rules.connections:
            vendor = config.connection(name).vendor
            assert rules.connection_fields[name] == frozenset(config.mappings.get(vendor, kind).canonical_fields)
    assert "lead_source" in config.rules_for("contact").connection_fields["sf"]
    assert "lead_source" not in config.rules_for("contact").connection_fields["hs"]


def test_policies_directions_match_filter_and_delete_become_values(tmp_path: Path) -> None:
    text = (
        THREE
        + """\
objects:
  contact:
    connections: [sf, hs]
    policy: {prefer: [sf, hs], unless_blank: true}
    fields:
      email: {policy: manual}
      title: {policy: {kind: last_writer_wins, unless_blank: true}, direction: {to: [hs]}}
      phone: {direction: {from: [sf]}}
      description: {direction: none}
    match: [email, [last_name, company]]
    filter:
      email: {present: true}
      lead_source: [web, partner_referral]
      title: {not_equals: Intern}
    delete:
      policy: archive
      archive_field: description
      archive_value: archived
      mass_delete: {share: 0.2, min: 10}
  company: {}
"""
    )
    config = parse(text, THREE_ENV, tmp_path)
    assert config.kinds == ("company", "contact")  # dependency order, not file order
    rules = config.rules_for("contact")
    assert rules.connections == ("sf", "hs")
    assert rules.policy == Policy.preferring("sf", "hs", unless_blank=True)
    assert rules.policy_for("email") == Policy.manual()
    assert rules.policy_for("title") == Policy.last_writer_wins(unless_blank=True)
    assert rules.policy_for("phone") == rules.policy
    assert rules.direction_for("title") == Direction.to("hs")
    assert rules.direction_for("phone") == Direction.from_("sf")
    assert rules.direction_for("description") == Direction.none()
    assert rules.direction_for("email") == Direction.both()
    contact = config.object("contact")
    assert contact.match == (("email",), ("last_name", "company"))
    assert contact.filter.conditions == (
        Condition("email", "present"),
        Condition("lead_source", "in", ("web", "partner_referral")),
        Condition("title", "not_equals", ("Intern",)),
    )
    assert contact.filter.matches({"email": "a@b.co", "lead_source": "web", "title": "CEO"})
    assert not contact.filter.matches({"email": None, "lead_source": "web"})
    assert not contact.filter.matches({"email": "a@b.co", "lead_source": "advertisement"})
    assert not contact.filter.matches({"email": "a@b.co", "lead_source": "web", "title": "Intern"})
    assert contact.delete.kind == "archive"
    assert (contact.delete.archive_field, contact.delete.archive_value) == ("description", "archived")
    assert contact.delete.mass_delete == MassDeleteBreaker(0.2, 10)
    assert config.object("company").connections == ("sf", "hs", "dv")


def test_conditions_and_breaker() -> None:
    assert Condition("tags", "equals", ("vip",)).matches({"tags": ("new", "vip")})  # multi-select holds it
    assert Condition("n", "not_in", (1, 2)).matches({"n": 3})
    assert Condition("n", "not_in", (1, 2)).matches({})  # blank is in no list
    assert Condition("n", "blank").matches({"n": ""})
    assert not Condition("n", "equals", ("",)).matches({"n": ""})
    breaker = MassDeleteBreaker(share=0.05, min=100)
    assert not breaker.trips(deletes=99, total=100)  # under the count: normal churn
    assert not breaker.trips(deletes=100, total=10_000)  # 1%: under the share
    assert breaker.trips(deletes=600, total=10_000)


def test_breaker_alert_states_a_small_share_as_set() -> None:
    # A share of 0.001 was shown as "0%": an operator could not tell which threshold held the deletes.
    assert MassDeleteBreaker(share=0.001, min=3).describe() == "more than 0.1% of them and at least 3"
    assert MassDeleteBreaker().describe() == "more than 5% of them and at least 100"


def test_custom_field_from_mappings_section_is_usable_in_objects(tmp_path: Path) -> None:
    text = (
        HUBSPOT_ONLY
        + """\
objects:
  contact:
    fields:
      favourite_colour: {policy: manual}
mappings:
  contact.favourite_colour: {hubspot: favourite_colour}
"""
    )
    config = parse(text, base_dir=tmp_path)
    assert config.rules_for("contact").policy_for("favourite_colour") == Policy.manual()
    assert "favourite_colour" in config.rules_for("contact").connection_fields["hs"]
    assert config.mappings.map_in("hubspot", "contact", {"favourite_colour": "Teal"}).fields == {
        "favourite_colour": "Teal"
    }


def test_state_url_defaults_next_to_the_file_and_keeps_absolute_and_postgres_urls(tmp_path: Path) -> None:
    (tmp_path / "crmsync.yaml").write_text(HUBSPOT_ONLY, encoding="utf-8")
    config = load_config(tmp_path / "crmsync.yaml", environ=ENV)
    assert config.state_url == f"sqlite:///{tmp_path / 'crmsync.db'}"
    (tmp_path / "data").mkdir()
    relative = parse("state: {url: sqlite:///data/state.db}\n" + HUBSPOT_ONLY, base_dir=tmp_path)
    assert relative.state_url == f"sqlite:///{tmp_path / 'data' / 'state.db'}"
    absolute = parse("state: {url: sqlite:////var/lib/crmsync.db}\n" + HUBSPOT_ONLY, base_dir=tmp_path)
    assert absolute.state_url == "sqlite:////var/lib/crmsync.db"
    env = {**ENV, "STATE_URL": "postgresql+psycopg://crmsync:pg-pass-123@db/crmsync"}
    pg = parse("state: {url: {env: STATE_URL}}\n" + HUBSPOT_ONLY, env, tmp_path)
    assert pg.state_url == env["STATE_URL"]
    assert "pg-pass-123" not in pg.state_url_safe and "pg-pass-123" not in repr(pg)
