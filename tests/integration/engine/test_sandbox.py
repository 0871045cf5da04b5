"""The sandbox over real loopback HTTP: users edit each emulator through its vendor API, crmsync's config reads it."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import crmsync.testing.sandbox as sandbox_api
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.connections import external_id_field, open_connectors
from crmsync.testing.rig import SleepRecorder, read_all
from crmsync.testing.sandbox import (
    DYNAMICS_EXTERNAL_ID,
    HUBSPOT_EXTERNAL_ID,
    SALESFORCE_EXTERNAL_ID,
    Sandbox,
    VendorCallError,
)


@pytest.fixture(scope="module")
def running() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
async def sb(running: Sandbox) -> Sandbox:
    await running.reset()
    return running


# ---- the users ----------------------------------------------------------------------------------
async def test_salesforce_user_creates_finds_relates_merges_and_deletes(sb: Sandbox) -> None:
    sf = sb.salesforce
    account = await sf.create("company", {"Name": "Acme", SALESFORCE_EXTERNAL_ID: "co-1"})
    contact = await sf.create("Contact", {"LastName": "Lovelace", "Email": "ada@acme.example"})
    await sf.update("contact", contact, {"Title": "Analyst"})
    got = await sf.get("contact", contact)
    assert got is not None and got["Title"] == "Analyst" and got["Id"] == contact
    assert [r["Id"] for r in await sf.find("contact", "Email", "ADA@acme.example")] == [contact]
    assert [r["Id"] for r in await sf.find("company", SALESFORCE_EXTERNAL_ID, "co-1")] == [account]

    await sf.associate("contact", contact, "company", account)
    deal = await sf.create("deal", {"Name": "Big", "StageName": "Prospecting", "CloseDate": "2026-12-31"})
    await sf.associate("deal", deal, "company", account)
    await sf.associate("deal", deal, "contact", contact)  # an OpportunityContactRole row
    task = await sf.create("activity", {"Subject": "Call Ada"})
    await sf.associate("activity", task, "contact", contact)
    await sf.associate("activity", task, "deal", deal)
    assert await sf.associated("contact", contact, "company") == [account]
    assert await sf.associated("deal", deal, "contact") == [contact]
    assert await sf.associated("activity", task, "deal") == [deal]
    assert await sf.associated("activity", task, "company") == []  # WhatId holds the deal

    twin = await sf.create("contact", {"LastName": "Lovelace", "Email": "ada@acme.example"})
    await sf.associate("activity", task, "contact", twin)
    assert await sf.count("contact") == 2
    assert await sf.merge("contact", contact, twin) == contact
    assert await sf.get("contact", twin) is None
    assert await sf.associated("activity", task, "contact") == [contact]  # children move to the survivor
    assert await sf.count("contact") == 1

    await sf.dissociate("deal", deal, "contact", contact)
    await sf.dissociate("contact", contact, "company", account)
    assert await sf.associated("deal", deal, "contact") == []
    assert await sf.associated("contact", contact, "company") == []
    await sf.delete("contact", contact)
    assert await sf.get("contact", contact) is None
    assert await sf.find("contact", "Email", "ada@acme.example") == []


async def test_hubspot_user_creates_finds_associates_merges_and_archives(sb: Sandbox) -> None:
    hs = sb.hubspot
    company = await hs.create("company", {"name": "Acme", "domain": "acme.example", HUBSPOT_EXTERNAL_ID: "co-1"})
    contact = await hs.create("contacts", {"email": "ada@acme.example", "firstname": "Ada"})
    await hs.update("contact", contact, {"jobtitle": "Analyst"})
    got = await hs.get("contact", contact)
    assert got is not None and got["jobtitle"] == "Analyst" and got["id"] == contact
    assert [r["id"] for r in await hs.find("contact", "email", "ada@acme.example")] == [contact]
    assert [r["id"] for r in await hs.find("company", HUBSPOT_EXTERNAL_ID, "co-1")] == [company]
    with pytest.raises(VendorCallError) as duplicate:
        await hs.create("company", {"name": "Other", HUBSPOT_EXTERNAL_ID: "co-1"})  # a unique property
    assert duplicate.value.status in (400, 409) and duplicate.value.message

    await hs.associate("contact", contact, "company", company)
    deal = await hs.create("deal", {"dealname": "Big", "pipeline": "default", "dealstage": "appointmentscheduled"})
    await hs.associate("deal", deal, "company", company)
    await hs.associate("deal", deal, "contact", contact)
    assert await hs.associated("contact", contact, "company") == [company]
    assert await hs.associated("company", company, "deal") == [deal]  # HubSpot associates both ways
    await hs.update("deal", deal, {"dealstage": "closedwon"})
    closed = await hs.get("deal", deal, ["dealstage"])
    assert closed is not None and closed["dealstage"] == "closedwon"

    twin = await hs.create("contact", {"email": "lovelace@acme.example", "firstname": "A."})
    assert await hs.count("contact") == 2
    merged = await hs.merge("contact", contact, twin)
    survivor = await hs.get("contact", twin)  # both old ids alias to the merged record
    assert survivor is not None and survivor["id"] == merged and survivor["firstname"] == "Ada"
    assert await hs.count("contact") == 1
    assert await hs.associated("contact", merged, "company") == [company]

    await hs.dissociate("deal", deal, "company", company)
    assert await hs.associated("deal", deal, "company") == []
    await hs.delete("contact", merged)
    assert await hs.get("contact", merged) is None
    assert await hs.count("contact") == 0


async def test_dynamics_user_creates_finds_binds_merges_closes_and_deletes(sb: Sandbox) -> None:
    dv = sb.dynamics
    account = await dv.create("company", {"name": "Acme", DYNAMICS_EXTERNAL_ID: "co-1"})
    contact = await dv.create("contact", {"lastname": "Lovelace", "emailaddress1": "ada@acme.example"})
    await dv.update("contact", contact, {"jobtitle": "Analyst"})
    got = await dv.get("contact", contact)
    assert got is not None and got["jobtitle"] == "Analyst" and got["contactid"] == contact
    assert [r["contactid"] for r in await dv.find("contact", "emailaddress1", "ada@acme.example")] == [contact]
    assert [r["accountid"] for r in await dv.find("account", DYNAMICS_EXTERNAL_ID, "co-1")] == [account]

    await dv.associate("contact", contact, "account", account)  # parentcustomerid_account@odata.bind
    deal = await dv.create("deal", {"name": "Big", "estimatedvalue": 1000})
    await dv.associate("deal", deal, "company", account)
    await dv.associate("deal", deal, "contact", contact)
    task = await dv.create("activity", {"subject": "Call Ada"})
    await dv.associate("activity", task, "deal", deal)
    assert await dv.associated("contact", contact, "company") == [account]
    assert await dv.associated("deal", deal, "company") == [account]
    assert await dv.associated("deal", deal, "contact") == [contact]
    assert await dv.associated("activity", task, "deal") == [deal]
    assert await dv.associated("activity", task, "company") == []

    await dv.win_opportunity(deal)
    won = await dv.get("deal", deal)
    assert won is not None and (won["statecode"], won["statuscode"]) == (1, 3)
    lost = await dv.create("deal", {"name": "Small"})
    await dv.lose_opportunity(lost)
    closed = await dv.get("deal", lost, ["statecode"])
    assert closed is not None and closed["statecode"] == 2

    twin = await dv.create("contact", {"lastname": "Lovelace", "emailaddress1": "ada@acme.example"})
    assert await dv.count("contact") == 2
    assert await dv.merge("contact", contact, twin) == contact
    subordinate = await dv.get("contact", twin)  # deactivated, still readable
    assert subordinate is not None and subordinate["_masterid_value"] == contact and subordinate["statecode"] == 1
    assert [r["contactid"] for r in await dv.find("contact", "emailaddress1", "ada@acme.example")] == [contact]
    assert await dv.count("contact") == 1

    await dv.dissociate("contact", contact, "account", account)
    assert await dv.associated("contact", contact, "account") == []
    await dv.delete("contact", contact)
    assert await dv.get("contact", contact) is None


@pytest.mark.parametrize(
    ("vendor", "fields", "expected"),
    [
        ("salesforce", {"LastName": "x", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS"),
        ("hubspot", {"email": "not-an-email"}, "INVALID_EMAIL"),
        ("dynamics", {"lastname": "x" * 500}, "0x80044331"),
    ],
)
async def test_a_refused_write_raises_with_the_vendors_message(
    sb: Sandbox, vendor: VendorName, fields: dict[str, str], expected: str
) -> None:
    user = sb.users[vendor]
    with pytest.raises(VendorCallError) as refused:
        await user.create("contact", fields)
    assert refused.value.status == 400 and refused.value.vendor == vendor
    assert expected in str(refused.value)


async def test_objects_are_named_by_canonical_kind(sb: Sandbox) -> None:
    assert sb.objects["salesforce"]["contact"] == "Contact"
    assert dict(sb.objects["hubspot"]) == {
        "company": "companies",
        "contact": "contacts",
        "deal": "deals",
        "activity": "tasks",
    }
    assert sb.objects["dynamics"]["activity"] == "task"
    assert sb.salesforce.objects is sb.objects["salesforce"]


# ---- control plane ------------------------------------------------------------------------------
async def test_control_plane_faults_clock_and_reset_keep_the_external_id_fields(sb: Sandbox) -> None:
    sf = sb.salesforce
    await sf.control.set_faults([{"kind": "status", "status": 503, "path": "/sobjects/Account$", "times": 1}])
    with pytest.raises(VendorCallError) as outage:
        await sf.create("company", {"Name": "Down"})
    assert outage.value.status == 503
    assert [rule["fired"] for rule in await sf.control.clear_faults()] == [1]

    frozen = await sb.dynamics.control.freeze()
    later = await sb.dynamics.control.advance(3600)
    assert frozen.frozen and later.now_ms - frozen.now_ms == 3_600_000
    await sb.dynamics.control.thaw()

    await sf.create("company", {"Name": "Kept", SALESFORCE_EXTERNAL_ID: "co-9"})
    await sb.reset()
    assert await sf.count("company") == 0
    # the declared external-id fields survive a reset
    await sf.create("company", {"Name": "Again", SALESFORCE_EXTERNAL_ID: "co-9"})
    await sb.hubspot.create("company", {"name": "Again", HUBSPOT_EXTERNAL_ID: "co-9"})
    await sb.dynamics.create("company", {"name": "Again", DYNAMICS_EXTERNAL_ID: "co-9"})
    assert (await sf.control.counts())["Account"] == 1


async def test_users_log_in_again_when_their_session_is_expired(sb: Sandbox) -> None:
    await sb.salesforce.create("company", {"Name": "Before"})
    await sb.dynamics.create("company", {"name": "Before"})
    await sb.salesforce.control.call("POST", "expire-tokens")
    await sb.dynamics.control.call("POST", "tokens/expire")
    assert await sb.salesforce.count("company") == 1
    assert await sb.dynamics.count("company") == 1


# ---- crmsync's configuration --------------------------------------------------------------------
async def test_written_config_loads_and_its_connectors_read_what_users_created(sb: Sandbox, tmp_path: Path) -> None:
    sf, hs, dv = sb.salesforce, sb.hubspot, sb.dynamics
    sf_account = await sf.create("company", {"Name": "Acme"})
    sf_contact = await sf.create("contact", {"LastName": "Ada", "AccountId": sf_account, SALESFORCE_EXTERNAL_ID: "c1"})
    hs_company = await hs.create("company", {"name": "Acme"})
    hs_contact = await hs.create("contact", {"email": "ada@acme.example", HUBSPOT_EXTERNAL_ID: "c1"})
    await hs.associate("contact", hs_contact, "company", hs_company)
    dv_account = await dv.create("company", {"name": "Acme"})
    dv_contact = await dv.create("contact", {"lastname": "Ada", DYNAMICS_EXTERNAL_ID: "c1"})
    await dv.associate("contact", dv_contact, "company", dv_account)
    created = {
        "salesforce": (sf_contact, sf_account),
        "hubspot": (hs_contact, hs_company),
        "dynamics": (dv_contact, dv_account),
    }

    config = sb.load_config(tmp_path)
    assert set(config.connections) == {"salesforce", "hubspot", "dynamics"}
    assert config.kinds == ("company", "contact", "deal", "activity")
    async with open_connectors(config) as connectors:
        for name in VENDOR_NAMES:
            connector, connection = connectors[name], config.connection(name)
            for obj in sb.objects[name].values():
                field = external_id_field(connection, obj)
                assert field is not None
                described = (await connector.describe(obj)).field(field)
                assert described is not None and (described.external_id or described.unique), (name, obj)
                await read_all(connector, obj, None)
            contact_id, company_id = created[name]
            contact_object = sb.objects[name]["contact"]
            read = {r.id: r for r in (await read_all(connector, contact_object, None)).upserts}
            record = read[contact_id]
            assert record.fields[external_id_field(connection, contact_object) or ""] == "c1"
            assert record.links["company"] == (company_id,), name


async def test_config_text_keeps_secrets_in_files_and_takes_sections_and_overrides(sb: Sandbox, tmp_path: Path) -> None:
    secrets = [
        sb.endpoints.salesforce.client_secret,
        sb.endpoints.hubspot.private_app_token,
        sb.endpoints.dynamics.client_secret,
    ]
    path = sb.write_config(
        tmp_path,
        "sqlite:///state.db",
        objects_yaml="contact:\n  policy: manual\n",
        mappings_yaml="contact.description: null\n",
        connections={"hubspot": {"page_size": 10}, "dynamics": {"lookback_s": 0}},
    )
    text = path.read_text(encoding="utf-8")
    assert not any(secret in text for secret in secrets)
    assert not any(secret in repr(sb) + repr(sb.salesforce) + repr(sb.dynamics) for secret in secrets)
    for secret_file in (tmp_path / "secrets").iterdir():
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert sb.urls["hubspot"] in text

    config = sb.load_config(
        tmp_path,
        "sqlite:///state.db",
        objects_yaml="objects:\n  contact:\n    policy: manual\n",
        connections={"hubspot": {"page_size": 10}},
    )
    assert config.kinds == ("contact",)
    assert config.object("contact").rules.policy.kind == "manual"
    hubspot = config.connection("hubspot").settings
    assert getattr(hubspot, "page_size", None) == 10
    with pytest.raises(ValueError, match="no sandbox connection 'pipedrive'"):
        sb.config_text("sqlite://", connections={"pipedrive": {}})


# ---- own sandboxes: seeded, tuned, async ---------------------------------------------------------
async def test_seeded_sandbox_holds_the_same_people_in_several_systems() -> None:
    with Sandbox(seed=3, records=200) as sb:
        sf_emails = {_norm(r["Email"]) for r in await sb.salesforce.query("SELECT Email FROM Contact")}
        hs_emails = {_norm(r["email"]) for r in await sb.hubspot.search("contact", {"properties": ["email"]})}
        dv_rows = await sb.dynamics.rows("contact", {"$select": "emailaddress1"})
        dv_emails = {_norm(r["emailaddress1"]) for r in dv_rows}
        shared = sorted((sf_emails & hs_emails) - {""})
        assert shared and (sf_emails & dv_emails) - {""} and (hs_emails & dv_emails) - {""}
        assert await sb.salesforce.count("contact") == len(await sb.salesforce.query("SELECT Id FROM Contact"))
        email = shared[0]
        assert await sb.salesforce.find("contact", "Email", email)
        assert await sb.hubspot.find("contact", "email", email)


async def test_async_sandbox_with_tuned_limits_and_an_injected_sleep(tmp_path: Path) -> None:
    sleep = SleepRecorder()
    settings: dict[VendorName, dict[str, int]] = {
        "salesforce": {"daily_api_limit": 500},
        "hubspot": {"daily_limit": 800},
        "dynamics": {"concurrent_requests": 4},
    }
    async with Sandbox(settings=settings, sleep=sleep) as sb:
        config = sb.load_config(tmp_path)
        assert getattr(config.connection("salesforce").settings, "daily_api_limit", None) == 500
        assert getattr(config.connection("hubspot").settings, "daily_limit", None) == 800
        assert getattr(config.connection("dynamics").settings, "concurrency", None) == 4

        rule = {"kind": "rate_limit", "path": "/crm/v3/objects/contacts$", "times": 2, "retry_after_s": 2}
        await sb.hubspot.control.set_faults([rule])
        assert await sb.hubspot.create("contact", {"email": "patient@example.com"})
        assert sleep.waits == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="not running"):
        sb.hubspot  # noqa: B018


def test_sandbox_refuses_unknown_emulators_and_negative_records() -> None:
    with pytest.raises(ValueError, match="pipedrive"):
        Sandbox(settings={"pipedrive": {}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="records"):
        Sandbox(records=-1)


def test_public_surface_is_curated() -> None:
    assert all(hasattr(sandbox_api, name) for name in sandbox_api.__all__)
    assert len(sandbox_api.__all__) == len(set(sandbox_api.__all__))


def _norm(email: object) -> str:
    return str(email or "").strip().lower()
