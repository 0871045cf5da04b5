"""The service's pure parts: its configuration section, webhook decoders from settings, hint jobs, log redaction."""

from __future__ import annotations

from crmsync.connectors.base import ChangeHint
from crmsync.connectors.dynamics.webhooks import DynamicsWebhookDecoder
from crmsync.connectors.hubspot.webhooks import HubSpotWebhookDecoder
from crmsync.engine.connections import webhook_decoder
from crmsync.engine.outbox import refetch_kind
from crmsync.service.logs import REDACTED, Redactor, configured_secrets
from crmsync.service.receiver import LIVE_PRIORITY, Endpoint, endpoints, hint_jobs
from tests.unit.config.helpers import issues_of, parse

THREE = """\
connections:
  hs:
    vendor: hubspot
    access_token: {env: HS_TOKEN}
    webhook_secret: {env: HS_APP_SECRET}
  sf:
    vendor: salesforce
    auth_flow: client_credentials
    client_id: abc
    client_secret: {env: SF_SECRET}
    org_id: 00DdM00000crmsyUAA
  dv:
    vendor: dynamics
    org_url: https://contoso.crm.dynamics.com
    tenant_id: t
    client_id: c
    client_secret: {env: DV_SECRET}
    webhook_key: {env: DV_KEY}
"""
ENV = {
    "HS_TOKEN": "pat-na1-token-0001",
    "HS_APP_SECRET": "app-secret-0002",
    "SF_SECRET": "sf-secret-0003",
    "DV_SECRET": "dv-secret-0004",
    "DV_KEY": "dv-key-0005",
}


def test_the_service_section_defaults_and_its_mistakes_are_located() -> None:
    config = parse(THREE, ENV)
    assert (config.service.host, config.service.port, config.service.poll_interval_s) == ("127.0.0.1", 8080, 60.0)
    issues = issues_of("service:\n  port: http\n  poll_every: 5\n" + THREE, ENV)
    assert issues[0].startswith("crmsync.yaml:2:3: service.port: Input should be a valid integer")
    assert issues[1].startswith("crmsync.yaml:3:3: service.poll_every: unknown key 'poll_every'; expected one of:")


def test_webhook_decoders_exist_only_where_their_secret_is_configured() -> None:
    config = parse(THREE, ENV)
    assert isinstance(webhook_decoder(config.connection("hs")), HubSpotWebhookDecoder)
    assert webhook_decoder(config.connection("sf")) is None  # an org id alone does not authenticate anything
    assert isinstance(webhook_decoder(config.connection("dv")), DynamicsWebhookDecoder)
    assert sorted(endpoints(config)) == ["dv", "hs"]


def test_hints_become_live_refetch_jobs_of_synced_objects_only() -> None:
    config = parse(THREE, ENV)
    endpoint = endpoints(config)["hs"]
    assert endpoint.kinds["contacts"] == "contact"
    hints = [
        ChangeHint("contacts", "11", "changed", event_id="e1"),
        ChangeHint("contacts", "11", "associations"),
        ChangeHint("tickets", "7", "changed"),
    ]
    jobs, ignored = hint_jobs(endpoint, hints)
    assert ignored == 1
    assert [(j.kind, j.key, j.priority) for j in jobs] == [
        (refetch_kind("contact", "hs"), "in:hs/contacts/11", LIVE_PRIORITY)
    ] * 2
    assert jobs[0].payload["reason"] == "webhook: changed (event e1)"
    assert hint_jobs(Endpoint("hs", endpoint.decoder, {}), hints) == ([], 3)


def test_every_configured_secret_is_redacted_from_log_events() -> None:
    config = parse(THREE, ENV)
    secrets = configured_secrets(config)
    assert set(secrets) == set(ENV.values())
    redact = Redactor(secrets)
    event = {"event": "call failed", "error": "401 for token pat-na1-token-0001", "items": ["dv-key-0005", 3]}
    assert redact(None, "info", event) == {
        "event": "call failed",
        "error": f"401 for token {REDACTED}",
        "items": [REDACTED, 3],
    }
