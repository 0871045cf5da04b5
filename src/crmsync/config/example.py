"""The commented example crmsync.yaml `crmsync init` writes, pointing at the local emulators."""

from __future__ import annotations

import secrets as random_secrets
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LocalEmulators:
    """Where `crmsync emulate all` listens and the credentials it accepts (its defaults, passed in by the CLI)."""

    salesforce_url: str
    salesforce_client_id: str
    salesforce_client_secret: str
    hubspot_url: str
    hubspot_access_token: str
    dynamics_url: str
    dynamics_tenant_id: str
    dynamics_client_id: str
    dynamics_client_secret: str
    salesforce_org_id: str = "00DdM00000crmsyUAA"  # the Salesforce emulator's org


@dataclass(frozen=True, slots=True)
class ExampleFiles:
    """The config text and the secret files it reads, by path relative to the config file."""

    config: str
    secrets: dict[str, str]


SECRETS_DIR = "secrets"

_TEMPLATE = """\
# crmsync configuration. Written by `crmsync init` for the local emulators: run `crmsync emulate all`
# in another terminal, then `crmsync check` and `crmsync sync`. Point the connections at your real
# CRMs when you are ready. Relative paths in this file are relative to the file itself.

# Where crmsync keeps its state (links, shadows, golden records, the job queue, conflicts, audit).
# SQLite next to this file by default; PostgreSQL to run several workers:
#   url: {{env: CRMSYNC_STATE_URL}}      # postgresql+psycopg://crmsync:...@db/crmsync
state:
  url: sqlite:///crmsync.db

# `crmsync serve`: webhooks at http://<host>:<port>/webhooks/<connection>, plus /metrics, /healthz, /readyz
# and the dashboard at /.
# Changes arrive by webhook within a second; the incremental poll is the net for anything a webhook missed.
service:
  host: 127.0.0.1
  port: 8080
  poll_interval_s: 60
  sweep_interval_s: 86400               # a full reconciliation (everything read again) once a day
  link_scan_interval_s: 3600            # a poll also reads HubSpot's associations hourly (a move changes no stamp)
  # public_url: https://crmsync.example.com   # when a proxy sits in front (HubSpot signs the URL it calls)
  register_emulator_webhooks: true      # the local emulators only; see the README for real CRMs
  # alerts:                             # POSTed as Slack-compatible JSON to each URL
  #   urls: [{{env: SLACK_WEBHOOK_URL}}]  # or {{file: ...}}: a webhook URL holds its token
  #   sync_errors: 10                   # new sync errors in one pass
  #   queue_age_s: 900                  # the oldest pending job waited this long
  #   quota_share: 0.8                  # this share of a connection's daily API quota used
  #   repeat_s: 3600                    # the same alert at most this often

  # The dashboard at http://<host>:<port>/ and its JSON API at /api. Nobody gets in without one of these:
  # tokens (API clients send `Authorization: Bearer <token>`; browsers sign in with it) or users.
  dashboard:
    tokens:
      - name: admin                     # shown in logs and as who resolved a conflict
        role: operator                  # operator: may resolve and retry; viewer: read-only
        token: {{file: {secrets}/dashboard_token}}   # a random token written by `crmsync init`
    # users:                            # sign in with a username and password instead
    #   - username: ada
    #     role: viewer
    #     password_hash: {{env: ADA_PASSWORD_HASH}}   # from `crmsync dashboard hash-password`
    # session_secret: {{file: {secrets}/dashboard_session}}   # sign-ins then survive a restart

# One entry per CRM; the name (left) is how the rest of crmsync refers to it.
# Secrets are never written here: each is read from an environment variable or a file,
#   client_secret: {{env: SF_CLIENT_SECRET}}
#   client_secret: {{file: /run/secrets/sf_client_secret}}
# `crmsync init` wrote the emulators' well-known development credentials into ./{secrets}/.
connections:
  salesforce:
    vendor: salesforce
    auth_flow: client_credentials       # or jwt_bearer (client_id, username, private_key_pem)
    login_url: {sf_url}                 # your My Domain URL, e.g. https://acme.my.salesforce.com
    client_id: {sf_client_id}
    client_secret: {{file: {secrets}/salesforce_client_secret}}
    edition: enterprise                 # sizes the daily API allocation; see also `licences:`
    org_id: {sf_org_id}                  # outbound messages must come from this org...
    webhook_token: {{file: {secrets}/salesforce_webhook_token}}   # ...to /webhooks/salesforce?token=<this>
    # external_id_fields: {{Contact: Crmsync_Id__c, Account: Crmsync_Id__c}}   # an admin makes them (see `check`)
    # merges: false                   # merges made elsewhere: delete here by policy, not Salesforce's merge()

  hubspot:
    vendor: hubspot
    base_url: {hs_url}                  # https://api.hubapi.com
    access_token: {{file: {secrets}/hubspot_access_token}}   # a private-app token (pat-...)
    tier: professional                  # sizes the rate limits
    webhook_secret: {{file: {secrets}/hubspot_webhook_secret}}   # the app's client secret (signs webhooks)
    # scan_links: [contacts, deals]   # associations change no stamp: a sync reads these objects' (README)

  dynamics:
    vendor: dynamics
    org_url: {dv_url}                   # https://contoso.crm.dynamics.com
    authority: {dv_url}                 # https://login.microsoftonline.com for a real tenant
    tenant_id: {dv_tenant}
    client_id: {dv_client_id}
    client_secret: {{file: {secrets}/dynamics_client_secret}}
    webhook_key: {{file: {secrets}/dynamics_webhook_key}}   # the service endpoint's WebhookKey
    # Upsert keys: `crmsync check --fix` creates these text columns and an alternate key on each.
    external_ids: {{account: new_crmsyncid, contact: new_crmsyncid, opportunity: new_crmsyncid, task: new_crmsyncid}}

# What syncs, with whom, and who wins. Every key has a default; leave `objects:` out to sync all four
# kinds with every connection. Policies: last_writer_wins | manual | {{prefer: [connections], unless_blank: true}}.
# Directions per field: both | none | {{to: [connections]}} | {{from: [connections]}}.
objects:
  company:
    connections: [salesforce, hubspot, dynamics]
    policy: last_writer_wins
    match: [domain, name]               # normalised domain, else name
  contact:
    connections: [salesforce, hubspot, dynamics]
    policy: last_writer_wins
    fields:
      email: {{policy: {{prefer: [salesforce], unless_blank: true}}}}
      lead_source: {{direction: {{from: [salesforce]}}}}
    match: [email]
    # match: [email, [company, first_name, last_name]]   # people with no email: by company and name
    # filter: {{email: {{present: true}}}}   # or sync only contacts that have an email address
    delete:
      policy: propagate                 # or ignore, or archive (with archive_field: <field>)
      mass_delete: {{share: 0.05, min: 100}}   # stop propagating deletes above 5% (and 100) in one run
  deal:
    connections: [salesforce, hubspot, dynamics]
    policy: {{prefer: [salesforce]}}
    fields:
      stage: {{policy: manual}}           # a stage changed differently in two CRMs waits for a person
  activity:
    connections: [salesforce, hubspot, dynamics]

# Field maps. The shipped defaults map the standard fields of all four kinds (`crmsync mappings` shows
# them); add a custom field in one line, override a vendor's rule, or switch a field off:
mappings:
  # contact.favourite_colour: {{salesforce: Favourite_Colour__c, hubspot: favourite_colour, dynamics: new_colour}}
  # contact.description: null
"""


def example_config(emulators: LocalEmulators) -> ExampleFiles:
    """The example config for these emulators, and the development secrets it reads from ./secrets/."""
    text = _TEMPLATE.format(
        secrets=SECRETS_DIR,
        sf_url=emulators.salesforce_url,
        sf_client_id=emulators.salesforce_client_id,
        hs_url=emulators.hubspot_url,
        dv_url=emulators.dynamics_url,
        dv_tenant=emulators.dynamics_tenant_id,
        dv_client_id=emulators.dynamics_client_id,
        sf_org_id=emulators.salesforce_org_id,
    )
    secrets = {
        f"{SECRETS_DIR}/salesforce_client_secret": emulators.salesforce_client_secret,
        f"{SECRETS_DIR}/hubspot_access_token": emulators.hubspot_access_token,
        f"{SECRETS_DIR}/dynamics_client_secret": emulators.dynamics_client_secret,
        # Webhook secrets are crmsync's own: fresh random ones, registered with the emulators by `crmsync serve`.
        f"{SECRETS_DIR}/salesforce_webhook_token": random_secrets.token_urlsafe(24),
        f"{SECRETS_DIR}/hubspot_webhook_secret": random_secrets.token_urlsafe(24),
        f"{SECRETS_DIR}/dynamics_webhook_key": random_secrets.token_urlsafe(24),
        f"{SECRETS_DIR}/dashboard_token": random_secrets.token_urlsafe(32),
    }
    return ExampleFiles(text, secrets)
