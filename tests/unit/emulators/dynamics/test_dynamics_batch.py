"""`$batch`: independent parts, atomic change sets with `$n` references, error handling and faults."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.dynamics import create_app
from crmsync.emulators.dynamics.testkit import API, authorised_client

BOUNDARY = "batch_AAA123"


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with authorised_client(app) as c:
        yield c


def _request(method: str, url: str, body: dict[str, object] | None = None, content_id: int | None = None) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    text = f"{head}\r\n{method} {url} HTTP/1.1\r\n"
    if body is not None:
        text += f"Content-Type: application/json\r\n\r\n{json.dumps(body)}\r\n"
    else:
        text += "\r\n"
    return text


def _batch(*parts: str) -> bytes:
    return ("".join(f"--{BOUNDARY}\r\n{p}" for p in parts) + f"--{BOUNDARY}--\r\n").encode()


def _change_set(name: str, *parts: str) -> str:
    inner = "".join(f"--{name}\r\n{p}" for p in parts) + f"--{name}--\r\n"
    return f"Content-Type: multipart/mixed; boundary={name}\r\n\r\n{inner}"


async def _post(client: httpx.AsyncClient, body: bytes, prefer: str | None = None) -> httpx.Response:
    headers = {"Content-Type": f"multipart/mixed; boundary={BOUNDARY}"}
    if prefer:
        headers["Prefer"] = prefer
    return await client.post(f"{API}/$batch", content=body, headers=headers)


async def _names(client: httpx.AsyncClient, entity_set: str, column: str) -> list[str]:
    rows = (await client.get(f"{API}/{entity_set}?$select={column}")).json()["value"]
    return [r[column] for r in rows]


async def test_change_set_with_content_id_references(client: httpx.AsyncClient) -> None:
    body = _batch(
        _change_set(
            "changeset_1",
            _request("POST", f"{API}/accounts", {"name": "Batch Co"}, 1),
            _request("POST", f"{API}/contacts", {"lastname": "Smith", "parentcustomerid_account@odata.bind": "$1"}, 2),
            _request("PUT", "$2/firstname", {"value": "Jo"}, 3),
        ),
        _request("GET", f"{API}/accounts?$select=name"),
    )
    response = await _post(client, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=batchresponse_")
    text = response.text
    assert "changesetresponse_" in text
    assert text.count("HTTP/1.1 204 No Content") == 3
    assert "Content-ID: 2" in text
    assert "OData-EntityId: https://crmsync.crm.dynamics.com/api/data/v9.2/contacts(" in text
    assert '"name":"Batch Co"' in text
    contacts = (await client.get(f"{API}/contacts?$select=fullname,_parentcustomerid_value")).json()["value"]
    assert contacts[0]["fullname"] == "Jo Smith"
    assert contacts[0]["_parentcustomerid_value"] is not None


async def test_failing_change_set_rolls_back_and_stops_the_batch(client: httpx.AsyncClient) -> None:
    body = _batch(
        _request("POST", f"{API}/accounts", {"name": "Before"}),
        _change_set(
            "changeset_2",
            _request("POST", f"{API}/accounts", {"name": "Rolled back"}, 1),
            _request("POST", f"{API}/tasks", {"subject": "x" * 201}, 2),
        ),
        _request("POST", f"{API}/accounts", {"name": "Never"}),
    )
    response = await _post(client, body)
    assert response.status_code == 400
    assert response.text.count("HTTP/1.1") == 1
    assert "0x80044331" in response.text
    assert "maximum allowed length of '200'" in response.text
    assert await _names(client, "accounts", "name") == ["Before"]


async def test_continue_on_error_runs_every_part(client: httpx.AsyncClient) -> None:
    body = _batch(
        _request("POST", "/api/data/v9.2/tasks", {"subject": "x" * 201}),
        _request("POST", "tasks", {"subject": "Task 2"}),
        _request("POST", f"{API}/tasks", {"subject": "Task 3"}),
    )
    response = await _post(client, body, "odata.continue-on-error")
    assert response.status_code == 200
    statuses = re.findall(r"HTTP/1.1 (\d{3})", response.text)
    assert statuses == ["400", "204", "204"]
    assert sorted(await _names(client, "tasks", "subject")) == ["Task 2", "Task 3"]


async def test_undeclared_content_id_is_400(client: httpx.AsyncClient) -> None:
    body = _batch(
        _change_set(
            "changeset_3",
            _request(
                "POST", f"{API}/phonecalls", {"subject": "c", "regardingobjectid_account_phonecall@odata.bind": "$1"}, 2
            ),
        )
    )
    response = await _post(client, body)
    assert response.status_code == 400
    assert "Content-ID Reference: '$1' does not exist in the batch context." in response.text


async def test_get_inside_change_set_and_oversized_batches_are_rejected(client: httpx.AsyncClient) -> None:
    body = _batch(_change_set("changeset_4", _request("GET", f"{API}/accounts")))
    response = await _post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "GET requests are not allowed inside a change set."
    big = _batch(*[_request("POST", f"{API}/accounts", {"name": f"n{i}"}) for i in range(1001)])
    too_many = await _post(client, big)
    assert too_many.status_code == 400
    assert "1000" in too_many.json()["error"]["message"]
    garbage = await client.post(f"{API}/$batch", content=b"hello", headers={"Content-Type": "text/plain"})
    assert garbage.status_code == 400


async def test_partial_batch_fault_fails_a_share_of_parts(client: httpx.AsyncClient) -> None:
    plan = {"rules": [{"kind": "partial_batch", "path": r"\$batch", "fail_share": 0.5}]}
    await client.put("/_emulator/faults", json=plan)
    body = _batch(*[_request("POST", f"{API}/accounts", {"name": f"n{i}"}) for i in range(4)])
    response = await _post(client, body, "odata.continue-on-error")
    statuses = re.findall(r"HTTP/1.1 (\d{3})", response.text)
    assert statuses.count("503") == 2
    assert statuses.count("204") == 2
    assert len(await _names(client, "accounts", "name")) == 2


async def test_part_urls_are_percent_decoded_like_top_level_requests(client: httpx.AsyncClient) -> None:
    await client.post("/_emulator/keys", json={"table": "account", "columns": ["accountnumber"]})
    body = _batch(_request("PATCH", f"{API}/accounts(accountnumber='A%201%2F2')", {"name": "Spaced"}))
    response = await _post(client, body, prefer="odata.continue-on-error")
    assert response.status_code == 200
    assert "HTTP/1.1 204" in response.text
    found = (await client.get(f"{API}/accounts(accountnumber='A 1/2')?$select=name")).json()
    assert found["name"] == "Spaced"
