"""The dashboard's JSON API on a real `crmsync serve` over loopback: access, roles, CSRF, actions reaching every CRM."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from crmsync.dashboard.access import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE
from crmsync.engine.outbox import await_job
from crmsync.engine.resolution import resolve
from crmsync.store import ConflictSide, Link
from tests.integration.dashboard.harness import (
    ADA_EMAIL,
    OPERATOR_TOKEN,
    SECRETS,
    VIEWER_PASSWORD,
    VIEWER_TOKEN,
    Site,
)
from tests.integration.service.conftest import eventually


@contextlib.asynccontextmanager
async def sign_in(site: Site, **form: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client signed in through the login form (its double-submit cookie included)."""
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as client:
        yield await _signed_in(client, form)


async def _signed_in(client: httpx.AsyncClient, form: dict[str, str]) -> httpx.AsyncClient:
    page = await client.get("/login")
    nonce = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', page.text)
    assert nonce is not None and client.cookies.get(LOGIN_COOKIE) == nonce[1]
    answer = await client.post("/login", data={CSRF_FIELD: nonce[1], "next": "/conflicts", **form})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/conflicts"
    assert client.cookies.get(SESSION_COOKIE)
    return client


def csrf_of(html: str) -> str:
    found = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', html)
    assert found is not None
    return found[1]


async def test_requests_without_credentials_are_refused_but_the_service_endpoints_stay_open(site: Site) -> None:
    api = await site.http.get("/api/overview")
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    assert api.json()["error"] == "unauthorized"
    wrong = await site.http.get("/api/overview", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401
    assert (await site.http.get("/api/openapi.json")).status_code == 401
    page = await site.http.get("/conflicts")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fconflicts"
    for open_path in ("/healthz", "/readyz", "/metrics"):
        assert (await site.http.get(open_path)).status_code == 200


async def test_the_overview_reflects_the_sync(site: Site) -> None:
    body = (await site.http.get("/api/overview", headers=site.viewer)).json()
    assert body["open_conflicts"] == 1 and body["sync_errors"] == 1
    health = {(h["connection"], h["kind"]): h for h in body["health"]}
    assert health[("salesforce", "contact")]["in_sync"] == 1  # Ada; Grace was refused
    assert health[("salesforce", "contact")]["failing"] == 1
    assert health[("hubspot", "contact")]["in_sync"] == 2 and health[("dynamics", "contact")]["in_sync"] == 2
    assert body["last_pass"]["trigger"] == "poll"
    assert {limit["connection"] for limit in body["limits"]} == {"salesforce", "hubspot", "dynamics"}
    assert all(limit["calls"] > 0 for limit in body["limits"])
    assert sum(bucket["records"] for bucket in body["volume"]) >= 2
    assert sum(bucket["errors"] for bucket in body["volume"]) == 1


async def test_the_overview_names_records_waiting_for_a_parent(site: Site) -> None:
    page = await _overview_page(site)
    assert "Nothing is queued for the next pass." in page
    # Two HubSpot deals read while their company was not synced yet: parked until a sync finds it.
    async with site.store.begin() as tx:
        await tx.jobs.enqueue_many([await_job("deal", "hubspot", "deals", deal) for deal in ("201", "202")])
    body = (await site.http.get("/api/overview", headers=site.viewer)).json()
    assert body["pending"] == {
        "waiting": {"deal": 2},
        "reads": {},
        "writes": {},
        "other": 0,
        "links": {},
        "blocked": [],
    }
    page = await _overview_page(site)
    assert "Nothing is queued" not in page
    assert "2 records wait for a parent crmsync has not synced yet (deal 2): each sync reads them again" in page


async def _overview_page(site: Site) -> str:
    async with sign_in(site, token=VIEWER_TOKEN) as browser:
        page = await browser.get("/")
    assert page.status_code == 200
    return " ".join(page.text.split())


async def test_a_viewer_reads_but_may_not_act(site: Site) -> None:
    conflicts = await site.http.get("/api/conflicts", headers=site.viewer)
    assert conflicts.status_code == 200 and conflicts.json()[0]["field"] == "title"
    conflict_id = conflicts.json()[0]["id"]
    refused = await site.http.post(
        f"/api/conflicts/{conflict_id}/resolve", json={"take": "hubspot"}, headers=site.viewer
    )
    assert refused.status_code == 403 and "viewer" in refused.json()["message"]
    assert (await site.http.post("/api/errors/retry", json={"all": True}, headers=site.viewer)).status_code == 403
    assert len((await site.http.get("/api/conflicts", headers=site.viewer)).json()) == 1


async def test_resolving_by_api_reaches_all_three_crms(site: Site) -> None:
    conflict_id = await site.conflict_id()
    detail = (await site.http.get(f"/api/conflicts/{conflict_id}", headers=site.operator)).json()
    sides = {side["connection"]: side["value"] for side in detail["conflict"]["sides"]}
    assert sides == {"salesforce": "Director", "hubspot": "Chief Analyst"}
    answer = await site.http.post(
        f"/api/conflicts/{conflict_id}/resolve", json={"take": "hubspot"}, headers=site.operator
    )
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    assert (outcome["value"], outcome["by"]) == ("Chief Analyst", "dashboard:ops")
    assert {write["connection"] for write in outcome["writes"]} == {"salesforce", "dynamics"}

    async def everywhere() -> bool:
        return set((await site.titles()).values()) == {"Chief Analyst"}

    await eventually(everywhere, after=site.progress, what="the chosen title in Salesforce, HubSpot and Dataverse")
    again = await site.http.post(
        f"/api/conflicts/{conflict_id}/resolve", json={"take": "salesforce"}, headers=site.operator
    )
    assert again.status_code == 400 and "already resolved by dashboard:ops" in again.json()["message"]


async def test_a_typed_value_and_bad_requests(site: Site) -> None:
    conflict_id = await site.conflict_id()
    both = await site.http.post(
        f"/api/conflicts/{conflict_id}/resolve", json={"take": "hubspot", "value": "x"}, headers=site.operator
    )
    assert both.status_code == 400 and "exactly one" in both.json()["message"]
    extra = await site.http.post(f"/api/conflicts/{conflict_id}/resolve", json={"pick": "x"}, headers=site.operator)
    assert extra.status_code == 422 and "pick" in extra.json()["message"]
    typed = await site.http.post(
        f"/api/conflicts/{conflict_id}/resolve", json={"value": "Countess"}, headers=site.operator
    )
    assert typed.status_code == 200 and typed.json()["source"] is None

    async def everywhere() -> bool:
        return set((await site.titles()).values()) == {"Countess"}

    await eventually(everywhere, after=site.progress, what="the typed title in all three CRMs")


async def test_clearing_a_field_a_crm_requires_is_refused_before_anything_is_stored(site: Site) -> None:
    """HubSpot cleared Ada's last name while Salesforce changed it: taking HubSpot's blank (or typing one) would be
    refused by Salesforce on the next pass, leaving a sync error; the dashboard refuses it, as the CLI does."""
    async with site.store.begin() as tx:
        parked = await tx.conflicts.park(
            site.ada.canonical_id,
            "last_name",
            "Lovelace",
            [ConflictSide("hubspot", None), ConflictSide("salesforce", "Byron")],
        )
    path = f"/api/conflicts/{parked.id}/resolve"
    took_blank = await site.http.post(path, json={"take": "hubspot"}, headers=site.operator)
    typed_blank = await site.http.post(path, json={"value": " "}, headers=site.operator)
    bulk = await site.http.post(
        "/api/conflicts/resolve-bulk", json={"field": "last_name", "take": "hubspot"}, headers=site.operator
    )
    for refused in (took_blank, typed_blank):
        assert refused.status_code == 400, refused.text
        message = refused.json()["message"]
        assert message == (
            "last_name cannot be cleared: it is required in dynamics contact.lastname, salesforce Contact.LastName; "
            "take salesforce or golden's side"
        )
    assert bulk.status_code == 200 and bulk.json()["resolved"] == []
    assert [s["id"] for s in bulk.json()["skipped"]] == [parked.id]
    async with site.store.read() as tx:
        still = await tx.conflicts.get(parked.id)
        golden = await tx.records.get(site.ada.canonical_id)
    assert still is not None and not still.resolved
    assert golden is not None and golden.record.fields["last_name"] == "Lovelace"
    kept = await site.http.post(path, json={"take": "salesforce"}, headers=site.operator)
    assert kept.status_code == 200 and kept.json()["value"] == "Byron"


async def test_bulk_resolve_by_rule(site: Site) -> None:
    answer = await site.http.post(
        "/api/conflicts/resolve-bulk", json={"field": "title", "take": "salesforce"}, headers=site.operator
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["value"] for r in body["resolved"]] == ["Director"] and body["skipped"] == []

    async def everywhere() -> bool:
        return set((await site.titles()).values()) == {"Director"}

    await eventually(everywhere, after=site.progress, what="Salesforce's title everywhere")


async def test_an_id_that_names_nothing_is_404_naming_it_and_changes_nothing(site: Site) -> None:
    """A client tells "no such conflict or error" (fix the id) from "you cannot do that" (400) by the status."""
    conflict_id = await site.conflict_id()
    (error_id,) = await site.error_ids()
    for method, path, body in (
        ("POST", "/api/conflicts/99999/resolve", {"take": "hubspot"}),
        ("GET", "/api/conflicts/99999", None),
    ):
        answer = await site.http.request(method, path, json=body, headers=site.operator)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"] == "not_found" and "no conflict #99999" in answer.json()["message"], path
    mixed = await site.http.post(
        "/api/errors/retry", json={"error_ids": [error_id, 99999], "job_ids": [88888]}, headers=site.operator
    )
    assert mixed.status_code == 404, mixed.text
    message = mixed.json()["message"]
    assert "sync error 99999" in message and "dead job 88888" in message and str(error_id) not in message
    assert await site.error_ids() == [error_id]  # refused whole: the known error was not re-queued either
    assert await site.conflict_id() == conflict_id
    wrong_kind = await site.http.get(f"/api/records/company/{site.ada.canonical_id}", headers=site.viewer)
    assert wrong_kind.status_code == 404 and site.ada.canonical_id in wrong_kind.json()["message"]


async def test_a_records_page_answers_404_for_no_such_id_and_400_for_an_ambiguous_one(site: Site) -> None:
    """The HTML pages tell "no such record" from "that id is ambiguous" as the JSON API does."""
    ambiguous = site.ada.hubspot
    async with site.store.begin() as tx:  # the same remote id now stands for Grace in Salesforce too
        await tx.links.link(Link(site.grace.canonical_id, "contact", "salesforce", "Contact", ambiguous))
    async with sign_in(site, token=VIEWER_TOKEN) as browser:
        for path, status, says in (
            ("/records/contact/nope", 404, "no contact with canonical or remote id &#39;nope&#39;"),
            (f"/records/company/{site.ada.canonical_id}", 404, "is a contact, not a company"),
            (f"/records/contact/{ambiguous}", 400, "is a contact id in several connections"),
            ("/records/planet/x", 400, "unknown object kind"),
            (f"/records/contact/{site.ada.canonical_id}", 200, "Ada Lovelace"),
        ):
            page = await browser.get(path)
            assert page.status_code == status and says in page.text, (path, page.status_code, page.text[-600:])
            if "planet" not in path:  # the API's own schema refuses an unknown kind first (422)
                api = await browser.get("/api" + path)
                assert api.status_code == status, (path, api.text)  # the page and the API agree


async def test_retry_after_fixing_the_record_at_its_source(site: Site) -> None:
    (error_id,) = await site.error_ids()
    errors = (await site.http.get("/api/errors", headers=site.operator)).json()
    (group,) = errors["groups"]
    assert (group["connection"], group["field"]) == ("salesforce", "LastName")
    assert group["message"] == "Required fields are missing: [LastName]" and group["retryable_ids"] == [error_id]
    await site.sb.hubspot.update("contact", site.grace.hubspot, {"lastname": "Hopper"})  # no webhook tells the service
    answer = await site.http.post("/api/errors/retry", json={"error_ids": [error_id]}, headers=site.operator)
    assert answer.status_code == 200 and [r["id"] for r in answer.json()["requeued"]] == [error_id]

    async def created() -> bool:
        found = await site.grace_in_salesforce()
        return found is not None and found["LastName"] == "Hopper"

    await eventually(created, after=site.progress, what="Grace Hopper created in Salesforce")

    async def healed() -> bool:
        return await site.error_ids() == []

    await eventually(healed, after=site.progress, what="the sync error gone")
    assert (await site.http.post("/api/errors/retry", json={}, headers=site.operator)).status_code == 400


async def test_a_retry_refused_again_keeps_the_error_its_id_and_its_count(site: Site) -> None:
    """Retried without a fix, Grace's create is refused again: the same E-id, counted twice, first seen kept."""

    async def errors() -> dict[int, dict[str, Any]]:
        body = (await site.http.get("/api/errors", headers=site.operator)).json()
        return {error["id"]: error for group in body["groups"] for error in group["errors"]}

    (before,) = (await errors()).values()
    assert before["count"] == 1
    answer = await site.http.post("/api/errors/retry", json={"error_ids": [before["id"]]}, headers=site.operator)
    assert answer.status_code == 200 and [r["id"] for r in answer.json()["requeued"]] == [before["id"]]

    async def refused_again() -> dict[str, Any] | None:
        now = await errors()
        assert list(now) == [before["id"]], now  # never a second error, never none
        return now[before["id"]] if now[before["id"]]["count"] == 2 else None

    after = await eventually(refused_again, after=site.progress, what="Grace's create refused a second time")
    assert after["first_seen"] == before["first_seen"] and str(after["last_seen"]) > str(before["last_seen"])
    assert after["message"] == before["message"]
    async with sign_in(site, token=OPERATOR_TOKEN) as browser:
        page = (await browser.get("/errors")).text
    row = page[page.index(f'<tr id="error-{before["id"]}">') :]
    row = row[: row.index("</tr>")]
    assert '<span class="count">2×</span>' in row and 'class="first-seen"' in row, row


async def test_search_and_a_records_page(site: Site) -> None:
    for query in (ADA_EMAIL.upper(), "lovelace", site.ada.salesforce or "", site.ada.canonical_id):
        hits = (await site.http.get("/api/records", params={"q": query}, headers=site.viewer)).json()["hits"]
        assert [h["canonical_id"] for h in hits] == [site.ada.canonical_id], query
    assert (await site.http.get("/api/records", params={"q": "nobody-here"}, headers=site.viewer)).json()["hits"] == []
    record = (await site.http.get(f"/api/records/contact/{site.ada.hubspot}", headers=site.viewer)).json()
    assert record["canonical_id"] == site.ada.canonical_id and record["label"].startswith("Ada Lovelace")
    urls = {link["connection"]: link["url"] for link in record["links"]}
    assert urls["salesforce"].startswith(site.sb.urls["salesforce"]) and urls["salesforce"].endswith(
        f"/sobjects/Contact/{site.ada.salesforce}"
    )
    assert urls["hubspot"] == f"{site.sb.urls['hubspot']}/crm/v3/objects/contacts/{site.ada.hubspot}"
    fields = {f["field"]: f for f in record["fields"]}
    assert {s["connection"]: s["value"] for s in fields["title"]["shadows"]} == {
        "dynamics": "Analyst",
        "hubspot": "Chief Analyst",
        "salesforce": "Director",
    }
    assert fields["title"]["conflicts"][0]["field"] == "title"
    assert [h["new"] for h in fields["last_name"]["history"]] == ["Lovelace"]
    missing = await site.http.get("/api/records/contact/nope", headers=site.viewer)
    assert missing.status_code == 404 and "no contact" in missing.json()["message"]


async def test_a_signed_in_browser_needs_the_csrf_token_to_act(site: Site) -> None:
    async with sign_in(site, token=OPERATOR_TOKEN) as browser:
        page = await browser.get("/conflicts")
        assert page.status_code == 200 and "Take hubspot" in page.text
        token = csrf_of(page.text)
        conflict_id = await site.conflict_id()
        no_header = await browser.post(f"/api/conflicts/{conflict_id}/resolve", json={"take": "hubspot"})
        assert no_header.status_code == 403 and "CSRF" in no_header.json()["message"]
        no_field = await browser.post(f"/conflicts/{conflict_id}/resolve", data={"take": "hubspot"})
        assert no_field.status_code == 403
        assert len((await browser.get("/api/conflicts")).json()) == 1
        done = await browser.post(f"/conflicts/{conflict_id}/resolve", data={"take": "hubspot", CSRF_FIELD: token})
        assert done.status_code == 303 and done.headers["location"] == "/conflicts"
        follow = await browser.get("/conflicts")
        assert f"Conflict #{conflict_id} resolved: title = Chief Analyst" in follow.text
        logout = await browser.post("/logout", data={CSRF_FIELD: token})
        assert logout.status_code == 303
        assert (await browser.get("/api/overview")).status_code == 401


async def test_a_user_signs_in_with_a_password_and_a_wrong_one_is_refused(site: Site) -> None:
    async with sign_in(site, username="vera", password=VIEWER_PASSWORD) as browser:
        who = (await browser.get("/api/whoami")).json()
        assert who == {"name": "vera", "role": "viewer", "via": "session"}
        page = await browser.get("/conflicts")
        assert "Take hubspot" not in page.text  # a viewer sees no action
    async with httpx.AsyncClient(base_url=site.url) as stranger:
        form = await stranger.get("/login")
        refused = await stranger.post(
            "/login", data={CSRF_FIELD: csrf_of(form.text), "username": "vera", "password": "guess"}
        )
        assert refused.status_code == 401 and "did not match" in refused.text
        assert not stranger.cookies.get(SESSION_COOKIE)
    async with httpx.AsyncClient(base_url=site.url) as cross_site:
        forged = await cross_site.post("/login", data={CSRF_FIELD: "forged", "token": OPERATOR_TOKEN})
        assert forged.status_code == 403  # no login cookie to match: a cross-site form cannot sign anyone in


async def test_no_secret_appears_in_any_page_or_response(site: Site) -> None:
    seen: list[str] = []
    for path in ("/api/overview", "/api/conflicts", "/api/errors", "/api/openapi.json", "/api/whoami"):
        seen.append((await site.http.get(path, headers=site.operator)).text)
    seen.append((await site.http.get(f"/api/records/contact/{site.ada.canonical_id}", headers=site.operator)).text)
    async with sign_in(site, token=OPERATOR_TOKEN) as browser:
        for path in ("/", "/conflicts", "/errors", f"/records?q={ADA_EMAIL}", f"/records/contact/{site.ada.hubspot}"):
            answer = await browser.get(path)
            assert answer.status_code == 200, path
            seen.append(answer.text)
            seen.append(str(answer.headers))
        seen.extend(f"{name}={value}" for name, value in browser.cookies.items())
    connection_secrets = [
        value.get_secret_value()
        for connection in site.config.connections.values()
        for value in connection.settings.__dict__.values()
        if hasattr(value, "get_secret_value")
    ]
    for secret in (*SECRETS, *connection_secrets):
        assert not any(secret in text for text in seen)


async def test_the_openapi_document_lists_every_endpoint(site: Site) -> None:
    document = (await site.http.get("/api/openapi.json", headers=site.viewer)).json()
    assert document["servers"] == [{"url": "/api"}]
    operations = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    assert operations == {
        ("GET", "/whoami"),
        ("GET", "/overview"),
        ("GET", "/conflicts"),
        ("GET", "/conflicts/{conflict_id}"),
        ("POST", "/conflicts/{conflict_id}/resolve"),
        ("POST", "/conflicts/resolve-bulk"),
        ("GET", "/errors"),
        ("POST", "/errors/retry"),
        ("GET", "/records"),
        ("GET", "/records/{kind}/{ident}"),
    }
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert "ResolutionModel" in document["components"]["schemas"]


async def test_refused_credentials_are_logged_without_the_secret(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong_token = "a-wrong-token-that-must-not-be-logged"
    await site.http.get("/api/overview", headers={"Authorization": f"Bearer {wrong_token}"})
    async with httpx.AsyncClient(base_url=site.url) as stranger:
        form = await stranger.get("/login")
        await stranger.post(
            "/login", data={CSRF_FIELD: csrf_of(form.text), "username": "vera", "password": "a-wrong-password"}
        )
        form = await stranger.get("/login")
        await stranger.post("/login", data={CSRF_FIELD: csrf_of(form.text), "token": wrong_token})
    logged = capsys.readouterr()
    text = logged.out + logged.err
    assert "dashboard API token refused" in text and "dashboard sign-in refused" in text and "vera" in text
    for secret in (wrong_token, "a-wrong-password", *SECRETS):
        assert secret not in text


async def test_work_queued_by_the_cli_beside_a_running_service_goes_out_without_waiting_for_a_poll(
    site: Site,
) -> None:
    """`crmsync conflicts resolve` queues writes in the state, with no word to the service (polling hourly here):
    the service looks at its queue every couple of seconds and runs them, as a `crmsync worker` would."""
    conflict_id = await site.conflict_id()
    await resolve(site.store, site.config, conflict_id, "salesforce", by="cli")  # as the CLI does it

    async def everywhere() -> bool:
        return set((await site.titles()).values()) == {"Director"}

    await eventually(
        everywhere, after=site.progress, what="the CLI's resolution in all three CRMs, long before the next poll"
    )
