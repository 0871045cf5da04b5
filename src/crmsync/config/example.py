"""The commented example crmsync.yaml `crmsync init` writes, pointing at the local emulators."""

from __future__ import annotations

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
    # external_id_fields: {{Contact: Crmsync_Id__c, Account: Crmsync_Id__c}}   # `crmsync check --fix`

  hubspot:
    vendor: hubspot
    base_url: {hs_url}                  # https://api.hubapi.com
    access_token: {{file: {secrets}/hubspot_access_token}}   # a private-app token (pat-...)
    tier: professional                  # sizes the rate limits

  dynamics:
    vendor: dynamics
    org_url: {dv_url}                   # https://contoso.crm.dynamics.com
    authority: {dv_url}                 # https://login.microsoftonline.com for a real tenant
    tenant_id: {dv_tenant}
    client_id: {dv_client_id}
    client_secret: {{file: {secrets}/dynamics_client_secret}}

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
    # filter: {{email: {{present: true}}}}   # sync only contacts that have an email address
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
    )
    secrets = {
        f"{SECRETS_DIR}/salesforce_client_secret": emulators.salesforce_client_secret,
        f"{SECRETS_DIR}/hubspot_access_token": emulators.hubspot_access_token,
        f"{SECRETS_DIR}/dynamics_client_secret": emulators.dynamics_client_secret,
    }
    return ExampleFiles(text, secrets)
