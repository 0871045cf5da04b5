"""Compact lookup/child indexes (one id, then a list) and the bucketed route dispatch keep their behaviour."""

from __future__ import annotations

import httpx

from .conftest import V


async def _create(client: httpx.AsyncClient, auth: dict[str, str], sobject: str, body: dict[str, object]) -> str:
    response = await client.post(f"{V}/sobjects/{sobject}", json=body, headers=auth)
    assert response.status_code == 201, response.text
    record_id: str = response.json()["id"]
    return record_id


async def test_shared_email_lists_both_then_one_after_a_delete(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    first = await _create(client, auth, "Contact", {"LastName": "A", "Email": "same@example.com"})
    second = await _create(client, auth, "Contact", {"LastName": "B", "Email": "SAME@example.com"})
    both = await client.get(f"{V}/sobjects/Contact/Email/same@example.com", headers=auth)
    assert both.status_code == 300
    assert sorted(url.rsplit("/", 1)[1] for url in both.json()) == sorted([first, second])
    assert (await client.delete(f"{V}/sobjects/Contact/{first}", headers=auth)).status_code == 204
    one = await client.get(f"{V}/sobjects/Contact/Email/same@example.com", headers=auth)
    assert one.status_code == 200 and one.json()["Id"] == second
    assert (await client.delete(f"{V}/sobjects/Contact/{second}", headers=auth)).status_code == 204
    none = await client.get(f"{V}/sobjects/Contact/Email/same@example.com", headers=auth)
    assert none.status_code == 404


async def test_account_delete_cascades_to_every_child_and_only_them(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    account = await _create(client, auth, "Account", {"Name": "Parent"})
    other = await _create(client, auth, "Account", {"Name": "Other"})
    kids = [await _create(client, auth, "Contact", {"LastName": f"K{i}", "AccountId": account}) for i in range(3)]
    moved = await _create(client, auth, "Contact", {"LastName": "Moved", "AccountId": account})
    patch = await client.patch(f"{V}/sobjects/Contact/{moved}", json={"AccountId": other}, headers=auth)
    assert patch.status_code == 204
    assert (await client.delete(f"{V}/sobjects/Account/{account}", headers=auth)).status_code == 204
    for kid in kids:
        assert (await client.get(f"{V}/sobjects/Contact/{kid}", headers=auth)).status_code == 404
    assert (await client.get(f"{V}/sobjects/Contact/{moved}", headers=auth)).status_code == 200


async def test_dispatch_keeps_route_precedence_and_method_errors(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # `describe` is a literal route listed before `{record_id}`: it must still win.
    describe = await client.get(f"{V}/sobjects/Contact/describe/", headers=auth)
    assert describe.status_code == 200 and describe.json()["name"] == "Contact"
    # A path some route serves, with a method none allows: 405 in Salesforce's shape, not 404.
    wrong = await client.put(f"{V}/query", headers=auth)
    assert wrong.status_code == 405
    assert wrong.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    missing = await client.get(f"{V}/no/such/resource/here/at/all", headers=auth)
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
