"""Settings validation, Entra client-credentials tokens (cache, expiry mid-run, refusal) and secrets hygiene."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from crmsync.connectors.dynamics import DynamicsConnector
from crmsync.connectors.http import RetryPolicy
from crmsync.emulators.dynamics import DynamicsConfig
from crmsync.errors import AuthError, ConfigError, TransientError

from .conftest import ORG_URL, Sleeps, control, settings_for


def test_settings_defaults_follow_the_vendor_maxima(config: DynamicsConfig) -> None:
    settings = settings_for(config, org_url=ORG_URL + "/")
    assert settings.org_url == ORG_URL
    assert settings.api_root == f"{ORG_URL}/api/data/v9.2"
    assert settings.token_url == f"{ORG_URL}/{config.tenant_id}/oauth2/v2.0/token"
    assert (settings.page_size, settings.batch_size, settings.requests_per_window) == (5000, 1000, 6000)
    assert settings.concurrency < 52
    assert settings.reserve_share == 0.1
    with pytest.raises(ValidationError):
        settings_for(config, page_size=5001)
    with pytest.raises(ValidationError):
        settings_for(config, org_url="crmsync.crm.dynamics.com")


def test_the_secret_never_shows_in_reprs(config: DynamicsConfig) -> None:
    settings = settings_for(config)
    assert config.client_secret not in repr(settings)
    assert config.client_secret not in str(settings.model_dump())


async def test_one_token_serves_many_calls(connector: DynamicsConnector) -> None:
    await connector.describe("account")
    await connector.fetch("account", ["0d15ea5e-0000-4000-8000-000000000001"])
    assert connector.token.fetches == 1  # type: ignore[attr-defined]


async def test_token_expiring_mid_run_is_refreshed_once(
    connector: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    await control(client, "POST", "seed", {"seed": 3, "records": 40})
    pages = [p async for p in connector.changes("account", None)]
    await control(client, "POST", "tokens/expire")
    more = [p async for p in connector.changes("account", pages[-1].cursor)]
    assert more and more[-1].cursor
    assert connector.token.fetches == 2  # type: ignore[attr-defined]


async def test_refused_credentials_are_a_fatal_auth_error_without_the_secret(
    config: DynamicsConfig, client: httpx.AsyncClient
) -> None:
    settings = settings_for(config, client_secret=SecretStr("wrong-secret-value"))
    connector = DynamicsConnector(settings, connection="dv-bad", client=client, sleep=Sleeps())
    with pytest.raises(AuthError) as caught:
        await connector.describe("account")
    message = str(caught.value)
    assert "dv-bad" in message
    assert "wrong-secret-value" not in message
    assert config.client_secret not in message


async def test_a_token_endpoint_failing_once_is_retried_with_the_request(
    connector: DynamicsConnector, client: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    await control(client, "PUT", "faults", {"rules": [{"kind": "status", "status": 503, "path": "oauth2", "times": 1}]})
    assert (await connector.describe("account")).name == "account"
    assert connector.token.fetches == 1  # type: ignore[attr-defined]
    assert len(sleeps.calls) >= 1  # the request waited once before it fetched again


async def test_an_unreachable_identity_provider_is_tried_as_often_as_a_request_not_squared(
    config: DynamicsConfig,
) -> None:
    """A token fetch happens inside the request's retry loop: retrying it there too made minutes of attempts."""
    sent: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        raise httpx.ConnectError("All connection attempts failed", request=request)

    sleeps = Sleeps()
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as refusing:
        connector = DynamicsConnector(settings_for(config), connection="dv-down", client=refusing, sleep=sleeps)
        with pytest.raises(TransientError, match=r"dv-down: dynamics token .*All connection attempts failed"):
            await connector.fetch("account", ["0d15ea5e-0000-4000-8000-000000000001"])
    assert len(sent) == RetryPolicy().attempts and all("oauth2" in path for path in sent)
    assert len(sleeps.calls) == RetryPolicy().attempts - 1


async def test_a_second_401_after_refresh_names_the_connection(
    connector: DynamicsConnector, client: httpx.AsyncClient
) -> None:
    await control(client, "PUT", "faults", {"rules": [{"kind": "expire_token", "path": "/api/data/"}]})
    with pytest.raises(AuthError, match="dv-test"):
        await connector.describe("contact")


async def test_unknown_objects_are_config_errors(connector: DynamicsConnector) -> None:
    with pytest.raises(ConfigError, match=r"dv-test.*lead"):
        await connector.describe("lead")
