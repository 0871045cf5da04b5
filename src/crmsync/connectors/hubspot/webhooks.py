"""HubSpot webhooks: signature checks (v3, and v1/v2 when configured) and event arrays → ChangeHints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal
from urllib.parse import unquote

import orjson
from pydantic import SecretStr

from crmsync.connectors.base import ChangeHint
from crmsync.connectors.hubspot.objects import OBJECT_INFO, SINGULAR
from crmsync.connectors.hubspot.records import from_ms
from crmsync.errors import SignatureError, VendorResponseError

Version = Literal["v1", "v2", "v3"]
MAX_AGE_S = 300.0
# HubSpot decodes these before computing v3 signatures of the URI (its validation docs list them).
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")
_DECODED_PAIRS = tuple((spelling, unquote(code)) for code in _DECODED for spelling in (code, code.lower()))


def _decoded_uri(url: str) -> str:
    if "%" not in url:  # the usual case, checked on every webhook request
        return url
    for code, char in _DECODED_PAIRS:
        url = url.replace(code, char)
    return url


def sign_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def sign_v2(secret: str, method: str, url: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.upper().encode() + url.encode() + body).hexdigest()


def sign_v3(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + url.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class HubSpotWebhookDecoder:
    """Verifies HubSpot webhook requests and turns their event arrays into hints.

    `versions` are the signature versions accepted: v3 (HMAC with a timestamp, the default) and the
    older v1/v2 (plain SHA-256, no timestamp: replays cannot be detected) only when configured.
    """

    def __init__(
        self,
        client_secret: SecretStr | str,
        *,
        versions: Collection[Version] = frozenset({"v3"}),
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.time,
        connection: str = "hubspot",
    ) -> None:
        secret = client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
        if not secret:
            raise ValueError("a HubSpot webhook decoder needs the app's client secret")
        self._secret = SecretStr(secret)
        self.versions = frozenset(versions)
        self.max_age_s = max_age_s
        self.clock = clock
        self.connection = connection

    def __repr__(self) -> str:
        return f"HubSpotWebhookDecoder(connection={self.connection!r}, versions={sorted(self.versions)})"

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        secret = self._secret.get_secret_value()
        v3 = lower.get("x-hubspot-signature-v3")
        if v3 is not None and "v3" in self.versions:
            self._check_timestamp(lower.get("x-hubspot-request-timestamp"))
            timestamp = lower["x-hubspot-request-timestamp"]
            for candidate in dict.fromkeys((url, _decoded_uri(url))):
                if hmac.compare_digest(sign_v3(secret, method, candidate, body, timestamp), v3):
                    return
            raise SignatureError(f"{self.connection}: HubSpot webhook v3 signature does not match")
        signature = lower.get("x-hubspot-signature")
        version = lower.get("x-hubspot-signature-version", "v1").lower()
        if signature is not None and version in self.versions:
            if version == "v1":
                expected = sign_v1(secret, body)
            elif version == "v2":
                expected = sign_v2(secret, method, url, body)
            else:
                raise SignatureError(f"{self.connection}: HubSpot webhook signature version {version} is not known")
            if hmac.compare_digest(expected, signature.lower()):
                return
            raise SignatureError(f"{self.connection}: HubSpot webhook {version} signature does not match")
        accepted = ", ".join(sorted(self.versions))
        raise SignatureError(f"{self.connection}: HubSpot webhook carries no accepted signature ({accepted})")

    def _check_timestamp(self, raw: str | None) -> None:
        try:
            sent_ms = int(raw or "")
        except ValueError:
            raise SignatureError(
                f"{self.connection}: HubSpot webhook has no valid X-HubSpot-Request-Timestamp"
            ) from None
        age = self.clock() - sent_ms / 1000
        if age > self.max_age_s or age < -self.max_age_s:
            raise SignatureError(f"{self.connection}: HubSpot webhook timestamp is {age:.0f} s old; replay refused")

    def decode(self, body: bytes) -> list[ChangeHint]:
        try:
            events = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise VendorResponseError(f"{self.connection}: HubSpot webhook body is not JSON", retryable=False) from exc
        if isinstance(events, dict):
            events = [events]
        if not isinstance(events, list):
            raise VendorResponseError(f"{self.connection}: HubSpot webhook body is not an event array", retryable=False)
        hints: list[ChangeHint] = []
        for event in events:
            if not isinstance(event, dict):
                raise VendorResponseError(
                    f"{self.connection}: a HubSpot webhook event is not an object", retryable=False
                )
            hints += self._hints(event)
        return hints

    def _hints(self, event: dict[str, Any]) -> list[ChangeHint]:
        kind = str(event.get("subscriptionType", ""))
        singular, _, action = kind.rpartition(".")
        obj = SINGULAR.get(singular)
        if obj not in OBJECT_INFO:
            return []  # object types crmsync does not sync (tickets, custom objects...)
        occurred = event.get("occurredAt")
        at = from_ms(occurred) if isinstance(occurred, int) and not isinstance(occurred, bool) else None
        event_id = str(event["eventId"]) if "eventId" in event else None

        def hint(object: str, raw_id: Any, hint_kind: Any, merged_into: str | None = None) -> ChangeHint:
            if not isinstance(raw_id, int | str) or isinstance(raw_id, bool) or str(raw_id) == "":
                raise VendorResponseError(f"{self.connection}: HubSpot {kind} event {event_id} has no object id")
            return ChangeHint(object, str(raw_id), hint_kind, at, event_id, merged_into)

        if action in ("creation", "propertyChange", "restore"):
            return [hint(obj, event.get("objectId"), "changed")]
        if action in ("deletion", "privacyDeletion"):
            return [hint(obj, event.get("objectId"), "deleted")]
        if action == "merge":
            new_id = event.get("newObjectId", event.get("primaryObjectId", event.get("objectId")))
            survivor = hint(obj, new_id, "changed")
            merged = event.get("mergedObjectIds") or []
            if not isinstance(merged, list):
                raise VendorResponseError(f"{self.connection}: HubSpot merge event {event_id}: mergedObjectIds")
            gone = [hint(obj, old, "merged", survivor.id) for old in merged if str(old) != survivor.id]
            return [*gone, survivor]
        if action == "associationChange":
            from_name, _, to_name = str(event.get("associationType", "")).lower().partition("_to_")
            from_obj, to_obj = SINGULAR.get(from_name, obj), SINGULAR.get(to_name)
            found = [hint(from_obj, event.get("fromObjectId"), "associations")]
            if to_obj in OBJECT_INFO:
                found.append(hint(to_obj, event.get("toObjectId"), "associations"))
            return found
        return []

    def acknowledge(self) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, b""
