"""Opportunity state model with Win/Lose actions, and the Merge action."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.dynamics import create_app
from crmsync.emulators.dynamics.testkit import API, authorised_client


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app) as c:
        yield c


async def _create(client: httpx.AsyncClient, entity_set: str, body: dict[str, object]) -> str:
    response = await client.post(f"{API}/{entity_set}", json=body)
    assert response.status_code == 204, response.text
    return response.headers["OData-EntityId"].split("(")[1].rstrip(")")


async def test_win_opportunity(client: httpx.AsyncClient) -> None:
    opp = await _create(client, "opportunities", {"name": "Deal", "estimatedvalue": 5000})
    response = await client.post(
        f"{API}/WinOpportunity",
        json={
            "OpportunityClose": {"subject": "Won!", "opportunityid@odata.bind": f"/opportunities({opp})"},
            "Status": 3,
        },
    )
    assert response.status_code == 204
    row = (await client.get(f"{API}/opportunities({opp})?$select=statecode,statuscode,actualvalue")).json()
    assert (row["statecode"], row["statuscode"], row["actualvalue"]) == (1, 3, 5000)
    again = await client.post(
        f"{API}/WinOpportunity",
        json={"OpportunityClose": {"opportunityid@odata.bind": f"/opportunities({opp})"}, "Status": 3},
    )
    assert again.status_code == 400


async def test_lose_opportunity_and_bad_status(client: httpx.AsyncClient) -> None:
    opp = await _create(client, "opportunities", {"name": "Deal"})
    bad = await client.post(
        f"{API}/LoseOpportunity",
        json={"OpportunityClose": {"opportunityid@odata.bind": f"/opportunities({opp})"}, "Status": 3},
    )
    assert bad.status_code == 400
    ok = await client.post(
        f"{API}/LoseOpportunity",
        json={"OpportunityClose": {"opportunityid@odata.bind": f"/opportunities({opp})"}, "Status": 5},
    )
    assert ok.status_code == 204
    row = (await client.get(f"{API}/opportunities({opp})?$select=statecode,statuscode")).json()
    assert (row["statecode"], row["statuscode"]) == (2, 5)
    reopened = await client.patch(f"{API}/opportunities({opp})", json={"statecode": 0}, headers={"If-Match": "*"})
    assert reopened.status_code == 204
    assert (await client.get(f"{API}/opportunities({opp})/statuscode")).json()["value"] == 1


async def test_plain_patch_cannot_win(client: httpx.AsyncClient) -> None:
    opp = await _create(client, "opportunities", {"name": "Deal"})
    response = await client.patch(
        f"{API}/opportunities({opp})", json={"statecode": 1, "statuscode": 3}, headers={"If-Match": "*"}
    )
    assert response.status_code == 400
    assert "WinOpportunityRequest" in response.json()["error"]["message"]
    on_hold = await client.patch(f"{API}/opportunities({opp})", json={"statuscode": 2}, headers={"If-Match": "*"})
    assert on_hold.status_code == 204
    mismatch = await client.patch(f"{API}/opportunities({opp})", json={"statuscode": 4}, headers={"If-Match": "*"})
    assert mismatch.status_code == 400


async def test_account_deactivation_by_patch(client: httpx.AsyncClient) -> None:
    account = await _create(client, "accounts", {"name": "A"})
    response = await client.patch(f"{API}/accounts({account})", json={"statecode": 1}, headers={"If-Match": "*"})
    assert response.status_code == 204
    row = (await client.get(f"{API}/accounts({account})?$select=statecode,statuscode")).json()
    assert (row["statecode"], row["statuscode"]) == (1, 2)


async def test_merge_deactivates_subordinate_and_moves_children(client: httpx.AsyncClient) -> None:
    target = await _create(client, "accounts", {"name": "Target"})
    subordinate = await _create(client, "accounts", {"name": "Subordinate"})
    child = await _create(
        client, "contacts", {"lastname": "Kid", "parentcustomerid_account@odata.bind": f"/accounts({subordinate})"}
    )
    response = await client.post(
        f"{API}/Merge",
        json={
            "Target": {"accountid": target, "@odata.type": "Microsoft.Dynamics.CRM.account"},
            "Subordinate": {"accountid": subordinate, "@odata.type": "Microsoft.Dynamics.CRM.account"},
            "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.account", "telephone1": "555"},
            "PerformParentingChecks": False,
        },
    )
    assert response.status_code == 204
    sub = (await client.get(f"{API}/accounts({subordinate})?$select=statecode,merged,_masterid_value")).json()
    assert (sub["statecode"], sub["merged"], sub["_masterid_value"]) == (1, True, target)
    assert (await client.get(f"{API}/accounts({target})/telephone1")).json()["value"] == "555"
    kid = (await client.get(f"{API}/contacts({child})?$select=_parentcustomerid_value")).json()
    assert kid["_parentcustomerid_value"] == target


@pytest.mark.parametrize(
    "body",
    [
        {"Target": {"accountid": "x"}, "Subordinate": {}},
        {
            "Target": {
                "opportunityid": "0d15ea5e-0000-4000-8000-000000000001",
                "@odata.type": "Microsoft.Dynamics.CRM.opportunity",
            }
        },
        [],
    ],
)
async def test_merge_rejects_bad_requests(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post(f"{API}/Merge", json=body)
    assert response.status_code == 400
    assert "error" in response.json()


async def test_who_am_i(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{API}/WhoAmI")).json()
    assert {"BusinessUnitId", "UserId", "OrganizationId"} <= set(body)
