"""`crmsync serve`'s alerts over loopback: a refused HubSpot token reaches a Slack stand-in once, not once per pass.

The emulated HubSpot answers every CRM call with 401 (a fault on its API paths), as it does for a revoked
private-app token. The alert URL is read from a file, as a Slack incoming-webhook URL (whose path is its
secret) would be; it must never show in the service's logs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from structlog.testing import capture_logs

from crmsync.service.breaker import FIRST_COOLDOWN_S
from crmsync.testing.sandbox import Sandbox
from tests.integration.service.conftest import ServeFactory, eventually, start_server

TOKEN = "xoxb-alert-path-secret-7f3a"
HOOK_PATH = "/services/T0CRMSYNC/B0ALERTS"


@dataclass
class SlackStandIn:
    """An incoming-webhook endpoint on loopback: keeps each JSON body POSTed to its secret path."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    @property
    def hook_url(self) -> str:
        return f"{self.url}{HOOK_PATH}/{TOKEN}"

    async def receive(self, request: Request) -> Response:
        if request.path_params["token"] != TOKEN or request.headers.get("content-type") != "application/json":
            self.refused += 1
            return PlainTextResponse("invalid_token", 403)
        self.posts.append(json.loads(await request.body()))
        return PlainTextResponse("ok")


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn()
    app = Starlette(routes=[Route(HOOK_PATH + "/{token}", stand_in.receive, methods=["POST"])])
    server, task, stand_in.url = await start_server(app)
    yield stand_in
    server.should_exit = True
    await task


async def test_a_refused_token_alerts_slack_once_within_repeat_s(
    serve: ServeFactory, sandbox: Sandbox, slack: SlackStandIn, tmp_path: Path
) -> None:
    url_file = tmp_path / "slack_webhook_url"
    url_file.write_text(slack.hook_url + "\n", encoding="utf-8")
    await sandbox.hubspot.control.set_faults([{"kind": "status", "status": 401, "path": "^/crm/"}])
    alerts = {"urls": [{"file": str(url_file)}], "repeat_s": 3600}
    with capture_logs() as logs:
        served = await serve(service_extra={"alerts": alerts}, poll_interval_s=1.0)

        async def posted() -> list[dict[str, Any]]:
            return slack.posts

        (body,) = await eventually(posted, after=served.progress, what="an alert POSTed to the Slack stand-in")
        assert isinstance(body["text"], str) and "`hubspot`" in body["text"]
        assert "credentials" in body["text"] and "crmsync check" in body["text"]
        assert body["metadata"] == {
            "event_type": "crmsync_alert",
            "event_payload": {"kind": "auth", "subject": "hubspot", "connection": "hubspot"},
        }

        # Another pass meets the same refusal (a poll that reads HubSpot again once the breaker's first pause of
        # it is over; no write goes to a CRM never read): the alert is held back, not sent again.

        async def suppressed() -> bool:
            return await served.metric("crmsync_alerts_total", kind="auth", outcome="suppressed") >= 1

        deadline = FIRST_COOLDOWN_S + 30  # the pause, then a pass that meets HubSpot's refusal again
        await eventually(
            suppressed, after=served.progress, what="a second pass holding back the same alert", deadline_s=deadline
        )
        assert await served.metric("crmsync_alerts_total", kind="auth", outcome="sent") == 1
        assert await served.metric("crmsync_alerts_total", kind="auth", outcome="failed") == 0
        assert len(slack.posts) == 1 and slack.refused == 0
        await served.stop()

    sent = [event for event in logs if event["event"] == "alert sent"]
    assert [event["target"] for event in sent] == [slack.url]
    assert TOKEN not in repr(logs)
