"""`crmsync check [--fix]` as a user runs it, against the three emulators served over loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from crmsync.config import LocalEmulators, example_config
from crmsync.emulators.dynamics.config import CustomColumn, DynamicsConfig
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.registry import VENDOR_NAMES, VendorName, build_emulator
from crmsync.emulators.salesforce.config import CustomField, SalesforceConfig
from crmsync.emulators.server import serve_in_thread

SF_OBJECTS = ("Account", "Contact", "Opportunity", "Task")
HS_GROUPS = {
    "companies": "companyinformation",
    "contacts": "contactinformation",
    "deals": "dealinformation",
    "tasks": "task",
}
HS_OBJECTS = tuple(HS_GROUPS)
DV_TABLES = ("account", "contact", "opportunity", "task")


@contextlib.contextmanager
def emulators(overrides: Mapping[VendorName, Mapping[str, Any]] | None = None) -> Iterator[dict[VendorName, str]]:
    """The three emulators on ephemeral loopback ports; their base URLs by vendor.

    Dataverse builds a new alternate key's index at once here: waiting for it is the connector's unit tests' job.
    """
    settings: dict[VendorName, dict[str, Any]] = {"dynamics": {"key_index_s": 0}}
    for name, given in (overrides or {}).items():
        settings[name] = {**settings.get(name, {}), **given}
    with contextlib.ExitStack() as stack:
        urls: dict[VendorName, str] = {}
        for name in VENDOR_NAMES:
            app = build_emulator(name, settings.get(name), environ={}).app
            urls[name] = stack.enter_context(serve_in_thread(app)).base_url
        yield urls


def declared_external_ids() -> dict[VendorName, dict[str, Any]]:
    """Emulator settings in which an administrator already created every external-id field crmsync needs."""
    sf_field = CustomField(name="Crmsync_Id__c", external_id=True, unique=True, case_sensitive=True, length=64)
    hs_property = {"name": "crmsync_id", "label": "crmsync id", "type": "string", "fieldType": "text"}
    dv_column = CustomColumn(name="new_crmsyncid", max_length=100, alternate_key=True)
    return {
        "salesforce": {"custom_fields": {name: [sf_field] for name in SF_OBJECTS}},
        "hubspot": {
            "custom_properties": [
                {**hs_property, "objectType": obj, "groupName": group, "hasUniqueValue": True}
                for obj, group in HS_GROUPS.items()
            ]
        },
        "dynamics": {"custom_columns": {table: [dv_column] for table in DV_TABLES}},
    }


def write_config(
    folder: Path,
    urls: Mapping[VendorName, str],
    *,
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    mappings: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Path:
    """`crmsync init`'s configuration for these emulators, with settings merged into its connections."""
    sf, hs, dv = SalesforceConfig(), HubSpotConfig(), DynamicsConfig()
    files = example_config(
        LocalEmulators(
            urls["salesforce"],
            sf.client_id,
            sf.client_secret,
            urls["hubspot"],
            hs.private_app_token,
            urls["dynamics"],
            dv.tenant_id,
            dv.client_id,
            dv.client_secret,
        )
    )
    data = yaml.safe_load(files.config)
    for name, settings in (connections or {}).items():
        data["connections"][name].update(settings)
    if mappings is not None:
        data["mappings"] = dict(mappings)
    path = folder / "crmsync.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    for name, text in {**files.secrets, **(secrets or {})}.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", encoding="utf-8")
    return path


def crmsync(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRMSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "250", "NO_COLOR": "1"},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_check_lists_missing_external_ids_and_fix_creates_hubspots_and_dataverses(tmp_path: Path) -> None:
    with emulators() as urls:
        write_config(tmp_path, urls)  # as `crmsync init` writes it: Dataverse's columns named, Salesforce's not
        first = crmsync("check", cwd=tmp_path)
        assert first.returncode == 1, first.stdout + first.stderr
        for obj in HS_OBJECTS:
            assert f"external-id field crmsync_id does not exist in {obj}" in first.stdout
        for table in DV_TABLES:
            assert f"external-id field new_crmsyncid does not exist in {table}" in first.stdout
        assert "run `crmsync check --fix` to create it" in first.stdout
        assert "not ready to sync: 8 errors" in first.stdout
        # Salesforce names no external-id field yet: warned, with what an admin creates.
        assert "no external-id field configured for Contact" in first.stdout

        fixed = crmsync("check", "--fix", cwd=tmp_path)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        for obj in HS_OBJECTS:
            assert f"created hubspot: {obj}.crmsync_id" in fixed.stdout
        for table in DV_TABLES:
            assert f"created dynamics: {table}.new_crmsyncid" in fixed.stdout
        left = fixed.stdout[fixed.stdout.index("Left to do") :]
        rows = [" ".join(line.split()) for line in left.splitlines()]
        for obj in SF_OBJECTS:
            assert f"{obj} Crmsync_Id__c Text(64) External ID, Unique (case sensitive)" in rows
        assert (
            "external_id_fields: {Account: Crmsync_Id__c, Contact: Crmsync_Id__c, Opportunity: Crmsync_Id__c, "
            "Task: Crmsync_Id__c}" in fixed.stdout
        )
        assert "new_crmsyncid" not in left
        assert "ready to sync: 0 errors" in fixed.stdout

        again = crmsync("check", cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "crmsync's id in crmsync_id" in again.stdout and "crmsync's id in new_crmsyncid" in again.stdout
        assert "created" not in again.stdout


def test_fix_creates_dataverse_columns_and_keys_and_leaves_salesforce_fields_to_an_admin(tmp_path: Path) -> None:
    with emulators() as urls:
        write_config(
            tmp_path,
            urls,
            connections={
                "salesforce": {"external_id_fields": {"Contact": "Crmsync_Id__c"}},
                "dynamics": {"external_ids": {"contact": "new_crmsyncid"}},
            },
        )
        first = crmsync("check", cwd=tmp_path)
        assert "external-id field new_crmsyncid does not exist in contact" in first.stdout, first.stdout
        result = crmsync("check", "--fix", cwd=tmp_path)
        again = crmsync("check", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "created hubspot: contacts.crmsync_id" in out
    # Dataverse's Web API makes the column and its alternate key; --fix waits for the key's index.
    assert "created dynamics: contact.new_crmsyncid (text column holding crmsync's ids, with an active" in out, out
    assert "new_crmsyncid does not exist in contact" not in out
    assert "crmsync's id in new_crmsyncid" in out
    assert "external-id field Crmsync_Id__c does not exist in Contact" in out
    left = out[out.index("Left to do") :]
    rows = [" ".join(line.split()) for line in left.splitlines()]
    assert "Contact Crmsync_Id__c Text(64) External ID, Unique (case sensitive)" in rows
    # Account has no field configured yet: its row comes with the complete setting to paste.
    assert "Account Crmsync_Id__c Text(64) External ID, Unique (case sensitive)" in rows
    assert any(row.startswith("external_id_fields: {Contact: Crmsync_Id__c, Account: Crmsync_Id__c") for row in rows)
    # The Dataverse tables not named yet: the setting to add, which --fix then acts on.
    assert "account new_crmsyncid Single line of text (100) key on new_crmsyncid only" in rows
    assert any(row.startswith("external_ids: {contact: new_crmsyncid, account: new_crmsyncid") for row in rows)
    assert "not ready to sync" in out
    assert "created" not in again.stdout and "new_crmsyncid does not exist" not in again.stdout


def test_check_passes_when_every_external_id_field_exists(tmp_path: Path) -> None:
    with emulators(declared_external_ids()) as urls:
        write_config(
            tmp_path,
            urls,
            connections={
                "salesforce": {"external_id_fields": dict.fromkeys(SF_OBJECTS, "Crmsync_Id__c")},
                "dynamics": {"external_ids": dict.fromkeys(DV_TABLES, "new_crmsyncid")},
            },
        )
        result = crmsync("check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ready to sync: 0 errors" in out
    assert "Left to do" not in out
    assert out.count("crmsync's id in Crmsync_Id__c") == len(SF_OBJECTS)
    assert out.count("crmsync's id in crmsync_id") == len(HS_OBJECTS)
    assert out.count("crmsync's id in new_crmsyncid") == len(DV_TABLES)
    # Deal stages: HubSpot's pipeline:dealstage keys and Dataverse's opportunity state raise no false errors.
    assert "pipeline+dealstage" not in out
    assert "statecode+statuscode+salesstage  unmapped" not in out


def test_s20_check_lists_every_unmapped_picklist_value(tmp_path: Path) -> None:
    tier = CustomField(name="Tier__c", type="picklist", picklist_values=["Gold", "Silver", "Bronze"])
    with emulators({"salesforce": {"custom_fields": {"Contact": [tier]}}}) as urls:
        write_config(
            tmp_path,
            urls,
            mappings={
                "contact.tier": {"salesforce": {"field": "Tier__c", "values": {"Gold": "gold", "Platinum": "vip"}}}
            },
        )
        result = crmsync("check", cwd=tmp_path)
    out = " ".join(result.stdout.split())
    assert "unmapped: not read — 2 salesforce values with no entry in the value map" in out
    assert "syncs without contact.tier: Silver, Bronze" in out
    # A value the map writes that the picklist does not hold is refused by the CRM: an error before any sync.
    assert "value map entry 'Platinum' ↔ 'vip': 'Platinum' is not a Tier__c value" in out
    assert result.returncode == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_credentials_and_a_dead_host_are_named_without_secrets(tmp_path: Path) -> None:
    wrong_token = "pat-na1-11111111-2222-4333-8444-wrongtokenxyz"
    wrong_secret = "not-the-salesforce-secret-4711"
    with emulators() as urls:
        dead = f"http://127.0.0.1:{free_port()}"
        write_config(
            tmp_path,
            urls,
            connections={"dynamics": {"org_url": dead, "authority": dead}},
            secrets={"secrets/hubspot_access_token": wrong_token, "secrets/salesforce_client_secret": wrong_secret},
        )
        result = crmsync("check", "--timeout", "3", cwd=tmp_path)
    assert result.returncode == 1
    out = " ".join(result.stdout.split())
    assert "hubspot (HubSpot): 1 error" in out
    assert "salesforce (Salesforce): 1 error" in out
    assert "dynamics (Dataverse): 1 error" in out
    assert out.count("authentication failed") == 2
    assert "no answer within 3 s" in out or "unreachable" in out
    for secret in (wrong_token, wrong_secret, SalesforceConfig().client_secret, DynamicsConfig().client_secret):
        assert secret not in result.stdout + result.stderr


def test_every_configuration_mistake_is_listed(tmp_path: Path) -> None:
    (tmp_path / "crmsync.yaml").write_text(
        "connections:\n  hs:\n    vendor: hubspot\n    tier: platinum\n    access_token: plain-text\n"
        "objects:\n  lead: {}\n",
        encoding="utf-8",
    )
    result = crmsync("check", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "mistakes in the configuration" in result.stderr
    assert "crmsync.yaml:4" in result.stderr and "crmsync.yaml:7" in result.stderr
    assert "plain-text" not in result.stderr
