"""Webhook registrations and the RemoteExecutionContext deliveries they produce."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.core.app import build_app
from crmsync.emulators.dynamics import DynamicsEmulator
from crmsync.emulators.dynamics.testkit import API, authorised_client


@pytest.fixture
def vendor() -> DynamicsEmulator:
    return DynamicsEmulator()


@pytest.fixture
def app(vendor: DynamicsEmulator) -> Starlette:
    return build_app(vendor)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app) as c:
        yield c


async def test_registration_and_context_shape(vendor: DynamicsEmulator, client: httpx.AsyncClient) -> None:
    registration = await client.post(
        "/_emulator/webhooks",
        json={"url": "https://hooks.example/dv", "auth": "WebhookKey", "key": "s3cret", "table": "contact"},
    )
    assert registration.status_code == 201
    account = await client.post(f"{API}/accounts", json={"name": "Contoso"})
    account_id = account.headers["OData-EntityId"].split("(")[1].rstrip(")")
    await client.post(
        f"{API}/contacts",
        json={"lastname": "Lee", "parentcustomerid_account@odata.bind": f"/accounts({account_id})"},
    )
    (delivery,) = vendor.runtime.webhooks.deliveries
    assert delivery.url == "https://hooks.example/dv?code=s3cret"
    body, headers = delivery.render(0)
    context = json.loads(body)
    assert context["MessageName"] == "Create"
    assert context["PrimaryEntityName"] == "contact"
    assert context["Stage"] == 40
    assert context["Mode"] == 1
    assert context["OperationCreatedOn"].startswith("/Date(")
    target = context["InputParameters"][0]["value"]
    assert target["__type"].startswith("Entity:")
    attributes = {a["key"]: a["value"] for a in target["Attributes"]}
    assert attributes["lastname"] == "Lee"
    assert attributes["parentcustomerid"]["LogicalName"] == "account"
    assert attributes["statecode"]["__type"].startswith("OptionSetValue:")
    assert headers["x-ms-dynamics-entity-name"] == "contact"
    assert headers["x-ms-dynamics-request-name"] == "Create"
    assert headers["x-ms-dynamics-organization"] == "crmsync.crm.dynamics.com"
    assert "x-ms-correlation-request-id" in headers


async def test_update_filtering_delete_and_header_auth(vendor: DynamicsEmulator, client: httpx.AsyncClient) -> None:
    await client.post(
        "/_emulator/webhooks",
        json={
            "url": "https://hooks.example/a",
            "auth": "HttpHeader",
            "headers": {"x-api-key": "k"},
            "table": "account",
            "messages": ["Update", "Delete"],
            "filtering_attributes": ["name"],
        },
    )
    created = await client.post(f"{API}/accounts", json={"name": "A"})
    account_id = created.headers["OData-EntityId"].split("(")[1].rstrip(")")
    await client.patch(f"{API}/accounts({account_id})", json={"telephone1": "1"}, headers={"If-Match": "*"})
    await client.patch(f"{API}/accounts({account_id})", json={"name": "B"}, headers={"If-Match": "*"})
    await client.delete(f"{API}/accounts({account_id})")
    messages = [d.meta["message"] for d in vendor.runtime.webhooks.deliveries]
    assert messages == ["Update", "Delete"]
    body, headers = vendor.runtime.webhooks.deliveries[1].render(0)
    assert headers["x-api-key"] == "k"
    assert json.loads(body)["InputParameters"][0]["value"]["__type"].startswith("EntityReference:")


async def test_retry_policy_is_one_retry_on_gateway_errors(vendor: DynamicsEmulator, client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/webhooks", json={"url": "https://hooks.example/a", "table": "account"})
    await client.post(f"{API}/accounts", json={"name": "A"})
    retry = vendor.runtime.webhooks.deliveries[0].retry
    assert retry(1, 503) is not None
    assert retry(2, 503) is None
    assert retry(1, 500) is None
    assert retry(1, None) is None


async def test_seeding_and_rolled_back_change_sets_do_not_fire(
    vendor: DynamicsEmulator, client: httpx.AsyncClient
) -> None:
    await client.post("/_emulator/webhooks", json={"url": "https://hooks.example/a", "table": "account"})
    boundary = "batch_x"
    part = (
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"POST {API}/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
    )
    change_set = (
        "Content-Type: multipart/mixed; boundary=cs\r\n\r\n"
        f'--cs\r\n{part}{{"name": "ok"}}\r\n--cs\r\n{part}{{"name": 5}}\r\n--cs--\r\n'
    )
    body = f"--{boundary}\r\n{change_set}--{boundary}--\r\n"
    response = await client.post(
        f"{API}/$batch", content=body.encode(), headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
    )
    assert response.status_code == 400
    assert vendor.runtime.webhooks.deliveries == []


async def test_bad_registration_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/_emulator/webhooks", json={"url": "ftp://x", "table": "account"})
    assert response.status_code == 400
    unknown_table = await client.post("/_emulator/webhooks", json={"url": "https://x", "table": "widget"})
    assert unknown_table.status_code == 400
