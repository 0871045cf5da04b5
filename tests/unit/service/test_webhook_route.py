"""The webhook route as raw ASGI: 503 while the service starts or stops, and how it reads request headers."""

from __future__ import annotations

import orjson
from starlette.datastructures import URL
from starlette.types import Message

from crmsync.service.receiver import WebhookRoute, _headers, _request_url


async def test_the_route_answers_503_while_no_receiver_runs() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"[]", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/webhooks/hubspot", "headers": [], "query_string": b""}
    await WebhookRoute(lambda: None)(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 503
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert orjson.loads(body) == {"error": "unavailable", "message": "the service is starting or stopping"}


def test_headers_are_by_lower_case_name_and_the_first_of_a_repeated_one_wins() -> None:
    scope = {
        "headers": [
            (b"x-hubspot-signature-v3", b"first"),
            (b"Content-Length", b"12"),
            (b"x-hubspot-signature-v3", b"second"),
        ]
    }
    assert _headers(scope) == {"x-hubspot-signature-v3": "first", "content-length": "12"}


def test_the_signed_url_is_the_one_starlette_builds_for_the_request() -> None:
    """Vendors sign the URL they called: the receiver's cached URL must equal Starlette's for the same request."""
    cases: list[tuple[str, tuple[str, int] | None, str, bytes, str | None]] = [
        ("http", ("127.0.0.1", 8000), "/webhooks/hubspot", b"", "127.0.0.1:8000"),
        ("https", ("10.0.0.5", 443), "/webhooks/salesforce", b"token=abc%3D", "crm.example.com"),
        ("http", ("::1", 80), "/webhooks/dynamics", b"", None),
        ("http", ("10.0.0.5", 8080), "/webhooks/hub?spot", b"a=1", None),
    ]
    for scheme, server, path, query, host in cases:
        headers = [] if host is None else [(b"host", host.encode())]
        scope = {"scheme": scheme, "server": server, "path": path, "query_string": query, "headers": headers}
        assert _request_url(scheme, server, path, query, host) == URL(scope=scope)
