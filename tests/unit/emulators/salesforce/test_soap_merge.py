"""The partner SOAP API's merge(): the session in the envelope, one result per request, children re-parented."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx

from crmsync.emulators.salesforce import SalesforceConfig
from tests.unit.emulators.salesforce.conftest import V, create

SOAP = "/services/Soap/u/60.0"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {"soapenv": ENV, "p": "urn:partner.soap.sforce.com"}


def envelope(session: str | None, *requests: tuple[str, str, list[str]]) -> bytes:
    assert session is not None
    body = "".join(
        f"<urn:request><urn:masterRecord><urn1:type>{type_}</urn1:type><urn1:Id>{master}</urn1:Id></urn:masterRecord>"
        + "".join(f"<urn:recordToMergeIds>{victim}</urn:recordToMergeIds>" for victim in victims)
        + "</urn:request>"
        for type_, master, victims in requests
    )
    return (
        f'<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:urn="urn:partner.soap.sforce.com" '
        'xmlns:urn1="urn:sobject.partner.soap.sforce.com">'
        f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{session}</urn:sessionId></urn:SessionHeader>"
        f"</soapenv:Header><soapenv:Body><urn:merge>{body}</urn:merge></soapenv:Body></soapenv:Envelope>"
    ).encode()


async def call(client: httpx.AsyncClient, body: bytes) -> tuple[int, ElementTree.Element]:
    response = await client.post(SOAP, content=body, headers={"Content-Type": "text/xml", "SOAPAction": '""'})
    assert response.headers["content-type"].startswith("text/xml")
    return response.status_code, ElementTree.fromstring(response.content)


async def test_a_merge_folds_the_victim_into_the_master_and_moves_its_children(
    client: httpx.AsyncClient, auth: dict[str, str], config: SalesforceConfig
) -> None:
    master = await create(client, auth, "Contact", {"LastName": "Hopper", "Email": "grace@navy.example"})
    victim = await create(client, auth, "Contact", {"LastName": "Hopper", "Email": "g.hopper@navy.example"})
    task = await create(client, auth, "Task", {"Subject": "Call", "WhoId": victim})

    status, answer = await call(client, envelope(config.static_session_token, ("Contact", master, [victim])))

    assert status == 200
    result = answer.find("soapenv:Body/p:mergeResponse/p:result", NS)
    assert result is not None
    assert result.findtext("p:success", namespaces=NS) == "true"
    assert result.findtext("p:id", namespaces=NS) == master
    assert [e.text for e in result.findall("p:mergedRecordIds", NS)] == [victim]
    assert [e.text for e in result.findall("p:updatedRelatedIds", NS)] == [task]
    assert answer.findtext("soapenv:Header/p:LimitInfoHeader/p:limitInfo/p:type", namespaces=NS) == "API REQUESTS"
    # The victim is gone (deleted, pointing at the master); its task now belongs to the master.
    assert (await client.get(f"{V}/sobjects/Contact/{victim}", headers=auth)).status_code == 404
    row = (await client.get(f"{V}/sobjects/Task/{task}", headers=auth)).json()
    assert row["WhoId"] == master
    deleted = await client.get(
        f"{V}/queryAll", params={"q": f"SELECT Id, MasterRecordId FROM Contact WHERE Id = '{victim}'"}, headers=auth
    )
    assert deleted.json()["records"][0]["MasterRecordId"] == master


async def test_each_request_succeeds_or_fails_on_its_own(
    client: httpx.AsyncClient, auth: dict[str, str], config: SalesforceConfig
) -> None:
    a, b = [await create(client, auth, "Account", {"Name": f"Acme {n}"}) for n in range(2)]
    gone = await create(client, auth, "Account", {"Name": "Gone"})
    assert (await client.delete(f"{V}/sobjects/Account/{gone}", headers=auth)).status_code == 204
    opportunity = await create(
        client, auth, "Opportunity", {"Name": "Big", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )
    other = await create(
        client, auth, "Opportunity", {"Name": "Small", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )

    status, answer = await call(
        client,
        envelope(
            config.static_session_token,
            ("Account", a, [gone]),
            ("Opportunity", opportunity, [other]),
            ("Account", a, [b]),
        ),
    )

    assert status == 200
    results = answer.findall("soapenv:Body/p:mergeResponse/p:result", NS)
    assert [r.findtext("p:success", namespaces=NS) for r in results] == ["false", "false", "true"]
    assert results[0].findtext("p:errors/p:statusCode", namespaces=NS) == "ENTITY_IS_DELETED"
    assert results[1].findtext("p:errors/p:statusCode", namespaces=NS) == "INVALID_TYPE"
    assert results[2].findtext("p:id", namespaces=NS) == a


async def test_a_bad_session_or_envelope_is_a_fault(
    client: httpx.AsyncClient, auth: dict[str, str], config: SalesforceConfig
) -> None:
    master = await create(client, auth, "Contact", {"LastName": "A"})
    victim = await create(client, auth, "Contact", {"LastName": "B"})
    status, answer = await call(client, envelope("00D000000000001!nope", ("Contact", master, [victim])))
    assert status == 500
    assert answer.findtext("soapenv:Body/soapenv:Fault/faultcode", namespaces=NS) == "sf:INVALID_SESSION_ID"
    status, answer = await call(client, b"<not-soap/>")
    assert status == 500
    assert answer.findtext("soapenv:Body/soapenv:Fault/faultcode", namespaces=NS) == "soapenv:VersionMismatch"
    # Nothing was merged.
    assert (await client.get(f"{V}/sobjects/Contact/{victim}", headers=auth)).status_code == 200
