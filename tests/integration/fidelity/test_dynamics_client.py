"""Microsoft's PowerPlatform-Dataverse-Client and msal, unmodified, against the emulator over HTTPS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests

from crmsync.emulators.dynamics import DynamicsConfig, create_app
from crmsync.emulators.server import ServedApp, serve_in_thread

pytestmark = pytest.mark.fidelity

CONFIG = DynamicsConfig()


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    with serve_in_thread(create_app(CONFIG), tls=True) as server:
        yield server


def _fetch_token(served: ServedApp, scope: str) -> str:
    context = ssl.create_default_context(cafile=str(served.ca_file))
    response = httpx.post(
        f"{served.base_url}/{CONFIG.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CONFIG.client_id,
            "client_secret": CONFIG.client_secret,
            "scope": scope,
        },
        verify=context,
    )
    response.raise_for_status()
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


class EmulatorCredential:
    """A TokenCredential (any object with get_token) backed by the emulator's token endpoint."""

    def __init__(self, served: ServedApp) -> None:
        self.served = served
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.extend(scopes)
        token = _fetch_token(self.served, scopes[0])
        return AccessToken(token, 4_102_444_800)


def test_records_list_create_update_delete(served: ServedApp, monkeypatch: pytest.MonkeyPatch) -> None:
    from PowerPlatform.Dataverse.client import DataverseClient

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(served.ca_file))
    credential = EmulatorCredential(served)
    with DataverseClient(served.base_url, credential) as client:
        ids = [
            client.records.create("account", {"name": f"Fidelity {i:02d}", "accountnumber": f"F-{i}"}) for i in range(7)
        ]
        assert len(set(ids)) == 7
        result = client.records.list("account", select=["name", "accountnumber"], page_size=3)
        names = [record["name"] for record in result]
        assert names == [f"Fidelity {i:02d}" for i in range(7)]

        client.records.update("account", ids[0], {"name": "Renamed", "telephone1": "555-0100"})
        fetched = client.records.retrieve("account", ids[0], select=["name", "telephone1"])
        assert fetched is not None
        assert fetched["name"] == "Renamed"
        assert fetched["telephone1"] == "555-0100"

        client.records.upsert("account", [{"alternate_key": {"accountnumber": "F-1"}, "record": {"name": "Upserted"}}])
        upserted = client.records.retrieve("account", ids[1], select=["name"])
        assert upserted is not None
        assert upserted["name"] == "Upserted"

        contact_ids = client.records.create("contact", [{"lastname": "Bulk A"}, {"lastname": "Bulk B"}])
        assert len(contact_ids) == 2

        client.records.delete("account", ids[2])
        remaining = client.records.list("account", select=["name"], filter="statecode eq 0", page_size=2)
        assert len(list(remaining)) == 6
    assert credential.scopes[0] == f"{served.base_url}/.default"


def test_client_surfaces_dataverse_errors(served: ServedApp, monkeypatch: pytest.MonkeyPatch) -> None:
    from PowerPlatform.Dataverse.client import DataverseClient
    from PowerPlatform.Dataverse.core.errors import HttpError

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(served.ca_file))
    with DataverseClient(served.base_url, EmulatorCredential(served)) as client:
        assert client.records.retrieve("account", "6d1f1c55-1111-4a4a-9b9b-00000000abcd") is None
        with pytest.raises(HttpError) as caught:
            client.records.create("account", {"name": "x" * 161})
        assert caught.value.status_code == 400
        assert "maximum allowed length of '160'" in str(caught.value)


def test_msal_acquires_a_token_from_the_emulator_authority(served: ServedApp) -> None:
    with requests.Session() as session:
        _acquire_with_msal(served, session)


def _acquire_with_msal(served: ServedApp, session: requests.Session) -> None:
    import msal  # type: ignore[import-untyped]

    session.verify = str(served.ca_file)
    session.trust_env = False  # the machine's REQUESTS_CA_BUNDLE would otherwise win over verify
    app = msal.ConfidentialClientApplication(
        CONFIG.client_id,
        client_credential=CONFIG.client_secret,
        authority=f"{served.base_url}/{CONFIG.tenant_id}",
        validate_authority=False,
        instance_discovery=False,
        http_client=session,
    )
    result = app.acquire_token_for_client(scopes=[f"{served.base_url}/.default"])
    assert "access_token" in result, result
    response = session.get(
        f"{served.base_url}/api/data/v9.2/WhoAmI",
        headers={"Authorization": f"Bearer {result['access_token']}"},
    )
    assert response.status_code == 200
    assert response.json()["UserId"] == CONFIG.application_user_id
    wrong = msal.ConfidentialClientApplication(
        CONFIG.client_id,
        client_credential="not-the-secret",
        authority=f"{served.base_url}/{CONFIG.tenant_id}",
        validate_authority=False,
        instance_discovery=False,
        http_client=session,
    ).acquire_token_for_client(scopes=[f"{served.base_url}/.default"])
    assert wrong.get("error") == "invalid_client"
