"""Inputs the fuzzing work showed to crash or misreport: each now gets Salesforce's own answer."""

from __future__ import annotations

import httpx

from .conftest import V, create


async def _error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()[0]["errorCode"])


async def test_collection_delete_result_for_a_malformed_id_has_no_id(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.delete(f"{V}/composite/sobjects", params={"ids": "not-an-id"}, headers=auth)
    assert response.status_code == 200
    assert response.json() == [
        {
            "success": False,
            "errors": [{"statusCode": "MALFORMED_ID", "message": "malformed id not-an-id", "fields": []}],
        }
    ]


async def test_malformed_composite_subrequest_fails_the_whole_call(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {"compositeRequest": [{"method": "GET", "url": f"{V}/limits", "referenceId": {}}]}
    response = await client.post(f"{V}/composite", json=body, headers=auth)
    assert await _error_code(response, 400) == "JSON_PARSER_ERROR"


async def test_composite_subrequest_to_an_unknown_resource_is_its_own_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {
        "compositeRequest": [
            {"method": "GET", "url": f"{V}/no-such-resource", "referenceId": "missing"},
            {"method": "PUT", "url": f"{V}/limits", "referenceId": "wrongMethod"},
        ]
    }
    response = await client.post(f"{V}/composite", json=body, headers=auth)
    assert response.status_code == 200
    results = response.json()["compositeResponse"]
    assert [(r["referenceId"], r["httpStatusCode"]) for r in results] == [("missing", 404), ("wrongMethod", 405)]
    assert results[0]["body"][0]["errorCode"] == "NOT_FOUND"
    assert results[1]["body"][0]["errorCode"] == "METHOD_NOT_ALLOWED"


async def test_non_ascii_digits_in_batch_size_and_locator(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    # Header values arrive latin-1 decoded: "²" is a digit to str.isdigit but not to int().
    headers = [(k.encode(), v.encode()) for k, v in auth.items()]
    headers.append((b"Sforce-Query-Options", "batchSize=\u00b2".encode("latin-1")))
    page = await client.get(f"{V}/query", params={"q": "SELECT Id FROM Account"}, headers=headers)
    assert page.status_code == 200 and page.json()["done"] is True
    more = await client.get(f"{V}/query/0r8dM0000000001AAA-\u00b2", headers=auth)
    assert await _error_code(more, 400) == "INVALID_QUERY_LOCATOR"


async def test_dates_out_of_range_in_soql(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for where in ("CreatedDate > LAST_N_DAYS:99999999999", "CreatedDate > 0001-01-01T00:00:00+14:00"):
        response = await client.get(f"{V}/query", params={"q": f"SELECT Id FROM Account WHERE {where}"}, headers=auth)
        assert await _error_code(response, 400) == "MALFORMED_QUERY", where


async def test_replication_window_before_year_one(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    params = {"start": "0001-01-01T00:00:00+14:00", "end": "2030-01-01T00:00:00Z"}
    response = await client.get(f"{V}/sobjects/Account/updated", params=params, headers=auth)
    assert await _error_code(response, 400) == "INVALID_REPLICATION_DATE"


async def test_event_ending_after_year_9999(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {"Subject": "Late", "StartDateTime": "9999-12-31T23:00:00Z", "DurationInMinutes": 999_999}
    response = await client.post(f"{V}/sobjects/Event", json=body, headers=auth)
    assert await _error_code(response, 400) == "FIELD_INTEGRITY_EXCEPTION"


async def test_early_datetimes_render_with_four_digit_years(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {"Subject": "Old", "StartDateTime": "0100-01-01T00:00:00Z", "DurationInMinutes": 30}
    event_id = await create(client, auth, "Event", body)
    record = (await client.get(f"{V}/sobjects/Event/{event_id}", headers=auth)).json()
    assert record["StartDateTime"] == "0100-01-01T00:00:00.000+0000"
    assert record["EndDateTime"] == "0100-01-01T00:30:00.000+0000"


async def test_versions_must_be_exactly_vnn_n(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for version in ("v60.0%0A", "v%D9%A6%D9%A0.%D9%A0"):  # trailing newline; Arabic-Indic digits
        response = await client.get(f"/services/data/{version}/limits", headers=auth)
        assert await _error_code(response, 404) == "NOT_FOUND", version
