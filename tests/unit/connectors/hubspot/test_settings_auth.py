"""Settings validation, secrets kept out of reprs and errors, private-app tokens and OAuth refresh."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from crmsync.connectors.http import RetryPolicy
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.emulators.hubspot import HubSpotConfig
from crmsync.errors import AuthError, TransientError
from tests.unit.connectors.hubspot.conftest import BASE, TOKEN, MakeConnector, Sleeps, control, settings

OAUTH = HubSpotConfig()


def oauth_settings(**overrides: object) -> HubSpotSettings:
    values: dict[str, object] = {
        "access_token": None,
        "client_id": OAUTH.client_id,
        "client_secret": SecretStr(OAUTH.client_secret),
        "refresh_token": SecretStr(OAUTH.refresh_token),
    }
    return settings(**(values | overrides))


def test_settings_need_one_auth_method() -> None:
    with pytest.raises(ValidationError, match="access_token"):
        HubSpotSettings(base_url=BASE)


def test_secrets_never_print() -> None:
    configured = oauth_settings(access_token=SecretStr(TOKEN))
    text = repr(configured) + str(configured) + configured.model_dump_json()
    for secret in (TOKEN, OAUTH.client_secret, OAUTH.refresh_token):
        assert secret not in text


def test_tier_sizes_limits_and_overrides_win() -> None:
    assert (settings(ten_second_limit=None, tier="starter").burst_limit, settings(tier="starter").daily_quota) == (
        100,
        250_000,
    )
    assert settings(ten_second_limit=None, tier="enterprise").burst_limit == 190
    assert settings(ten_second_limit=None, tier="api-pack").burst_limit == 250
    assert settings(ten_second_limit=None, daily_limit=5).daily_quota == 5


async def test_private_app_token_reads(connector: HubSpotConnector) -> None:
    schema = await connector.describe("contacts")
    assert "email" in schema.fields


async def test_bad_private_token_is_fatal_and_names_the_connection(
    make: MakeConnector, client: httpx.AsyncClient
) -> None:
    connector = make(access_token=SecretStr("pat-na1-wrong"))
    with pytest.raises(AuthError, match="hs-test") as caught:
        await connector.describe("contacts")
    assert "pat-na1-wrong" not in str(caught.value)
    # A private-app token is used as it is: the error names its setting, and nothing is asked twice.
    assert "the token in the connection's access_token, used as it is (nothing to refresh)" in str(caught.value)
    stats = await control(client, "GET", "stats")
    assert stats["operations"]["GET /crm/v3/properties/{object_type}"]["calls"] == 1


async def test_oauth_refreshes_once_after_an_expired_token(client: httpx.AsyncClient, sleeps: Sleeps) -> None:
    connector = HubSpotConnector(oauth_settings(), connection="hs-oauth", client=client, sleep=sleeps)
    await connector.describe("companies")
    await control(client, "POST", "tokens/expire", {})
    await connector.describe("companies")  # 401 EXPIRED_AUTHENTICATION → one refresh → retried
    stats = await control(client, "GET", "stats")
    assert stats["operations"]["oauth.token"]["calls"] == 2
    refused = [op for op, v in stats["operations"].items() if "401" in v["statuses"]]
    assert refused == ["GET /crm/v3/properties/{object_type}"]


async def test_oauth_bad_refresh_token_is_an_auth_error_without_secrets(
    client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    configured = oauth_settings(refresh_token=SecretStr("na1-stolen-refresh"))
    connector = HubSpotConnector(configured, connection="hs-oauth", client=client, sleep=sleeps)
    with pytest.raises(AuthError, match="hs-oauth") as caught:
        await connector.describe("contacts")
    message = str(caught.value)
    assert "na1-stolen-refresh" not in message
    assert OAUTH.client_secret not in message


async def test_oauth_token_endpoint_down_is_tried_as_often_as_a_request_not_squared(sleeps: Sleeps) -> None:
    """The refresh happens inside the request's retry loop: it does not retry on its own as well."""
    sent: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(503, json={"status": "error", "message": "unavailable"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(down), base_url=BASE) as unavailable:
        connector = HubSpotConnector(oauth_settings(), connection="hs-oauth", client=unavailable, sleep=sleeps)
        with pytest.raises(TransientError, match="hs-oauth: hubspot oauth token refresh"):
            await connector.describe("contacts")
    assert len(sent) == RetryPolicy().attempts and all(path.endswith("/token") for path in sent)
