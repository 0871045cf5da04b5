"""OAuth token endpoint and session checks."""

from __future__ import annotations

import time

import httpx
import jwt

from crmsync.emulators.salesforce import SalesforceConfig

from .conftest import V

TOKEN = "/services/oauth2/token"


async def test_client_credentials_in_body(client: httpx.AsyncClient, config: SalesforceConfig) -> None:
    response = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": config.client_id, "client_secret": config.client_secret},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["instance_url"] == "https://sf.test"
    assert body["token_type"] == "Bearer"
    assert body["token_format"] == "opaque"
    assert body["issued_at"].isdigit()
    assert "expires_in" not in body
    assert {"access_token", "id", "signature", "scope"} <= body.keys()
    limits = await client.get(f"{V}/limits", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert limits.status_code == 200


async def test_client_credentials_basic_and_bad_secret(client: httpx.AsyncClient, config: SalesforceConfig) -> None:
    good = await client.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=(config.client_id, config.client_secret)
    )
    assert good.status_code == 200
    bad = await client.post(TOKEN, data={"grant_type": "client_credentials"}, auth=(config.client_id, "nope"))
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    unknown = await client.post(TOKEN, data={"grant_type": "password"})
    assert unknown.json()["error"] == "unsupported_grant_type"


async def test_jwt_bearer(client: httpx.AsyncClient, config: SalesforceConfig) -> None:
    info = (await client.get("/_emulator")).json()
    key = info["credentials"]["jwt_private_key_pem"]
    claims = {
        "iss": config.consumer_key,
        "sub": config.username,
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    assertion = jwt.encode(claims, key, algorithm="RS256")
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ok = await client.post(TOKEN, data={"grant_type": grant, "assertion": assertion})
    assert ok.status_code == 200, ok.text
    assert "token_format" not in ok.json()
    wrong_sub = jwt.encode({**claims, "sub": "someone@else"}, key, algorithm="RS256")
    denied = await client.post(TOKEN, data={"grant_type": grant, "assertion": wrong_sub})
    assert denied.status_code == 400
    assert denied.json()["error"] == "invalid_grant"
    expired = jwt.encode({**claims, "exp": int(time.time()) - 600}, key, algorithm="RS256")
    assert (await client.post(TOKEN, data={"grant_type": grant, "assertion": expired})).json()[
        "error"
    ] == "invalid_grant"
    garbage = await client.post(TOKEN, data={"grant_type": grant, "assertion": "not-a-jwt"})
    assert garbage.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


async def test_missing_and_expired_session(client: httpx.AsyncClient, config: SalesforceConfig) -> None:
    missing = await client.get(f"{V}/sobjects")
    assert missing.status_code == 401
    assert missing.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    token = (
        await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": config.client_id,
                "client_secret": config.client_secret,
            },
        )
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"{V}/sobjects", headers=headers)).status_code == 200
    await client.post("/_emulator/clock", json={"advance_ms": config.session_timeout_s * 1000 + 1})
    expired = await client.get(f"{V}/sobjects", headers=headers)
    assert expired.status_code == 401
    assert expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"


async def test_expire_token_fault(client: httpx.AsyncClient, config: SalesforceConfig) -> None:
    token = (await client.post("/_emulator/sessions")).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    plan = {"rules": [{"kind": "expire_token", "path": "/sobjects", "times": 1}]}
    assert (await client.put("/_emulator/faults", json=plan)).status_code == 200
    response = await client.get(f"{V}/sobjects", headers=headers)
    assert response.status_code == 401


async def test_versions_and_unknown_version(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    versions = (await client.get("/services/data")).json()
    assert versions[0] == {"label": "Winter '11", "url": "/services/data/v20.0", "version": "20.0"}
    assert versions[-1]["version"] == "67.0"
    assert any(v["label"] == "Spring '25" and v["version"] == "63.0" for v in versions)
    bad = await client.get("/services/data/v19.0/sobjects", headers=auth)
    assert bad.status_code == 404
    assert bad.json()[0]["errorCode"] == "NOT_FOUND"
