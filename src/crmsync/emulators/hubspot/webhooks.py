"""Webhooks v3: turns store changes into HubSpot event arrays, batches them, signs and delivers them."""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from crmsync.emulators.core.store import ChangeEvent
from crmsync.emulators.core.vendor import EmulatorRuntime
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.associations import association_type
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.hubspot.schema import OBJECT_TYPES
from crmsync.emulators.hubspot.signatures import sign_v1, sign_v3
from crmsync.emulators.hubspot.state import OBJECT_TYPES_BY_NAME, Portal, Writer

EVENT_KINDS = ("creation", "deletion", "propertyChange", "merge", "associationChange", "restore")
MAX_RETRIES = 10
# Roughly HubSpot's spread: ten retries within about a day, each randomised.
_RETRY_BASE_S = (60, 120, 300, 600, 1800, 3600, 7200, 14400, 21600, 28800)
_SINGULARS = frozenset(ot.singular for ot in OBJECT_TYPES)


@dataclass
class Subscription:
    id: int
    object: str  # singular, e.g. "contact"
    kind: str  # an EVENT_KINDS entry or "*"
    property_name: str | None = None

    @property
    def name(self) -> str:
        base = f"{self.object}.{self.kind}"
        return f"{base}:{self.property_name}" if self.property_name else base


@dataclass
class WebhookSettings:
    target_url: str
    client_secret: str
    subscriptions: list[Subscription] = field(default_factory=list)
    max_batch: int = 100


def parse_settings(body: dict[str, Any], config: HubSpotConfig) -> WebhookSettings:
    target = body.get("target_url")
    secret = body.get("client_secret", config.client_secret)
    names = body.get("subscriptions", [])
    max_batch = body.get("max_batch", 100)
    if not isinstance(target, str) or not target.startswith(("http://", "https://")):
        raise errors.validation("target_url must be an http(s) URL")
    if not isinstance(secret, str) or not secret:
        raise errors.validation("client_secret must be a non-empty string")
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or not 1 <= max_batch <= 100:
        raise errors.validation("max_batch must be an integer between 1 and 100")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise errors.validation("subscriptions must be an array of strings such as 'contact.creation'")
    subs = []
    for index, name in enumerate(names):
        head, _, prop = name.partition(":")
        obj, _, kind = head.partition(".")
        if obj not in _SINGULARS or (kind not in EVENT_KINDS and kind != "*"):
            raise errors.validation(f"Unknown subscription type {name!r}")
        subs.append(Subscription(1_000 + index, obj, kind, prop or None))
    return WebhookSettings(target, secret, subs, max_batch)


class WebhookHub:
    """Listens to the store, keeps the events of one write burst together, and enqueues signed deliveries."""

    def __init__(self, runtime: EmulatorRuntime, portal: Portal, config: HubSpotConfig) -> None:
        self.runtime = runtime
        self.portal = portal
        self.config = config
        self.settings: WebhookSettings | None = None
        self._pending: list[dict[str, Any]] = []
        self._flush_scheduled = False
        self._event_ids = itertools.count(1)
        self._rng = random.Random(config.portal_id)
        runtime.store.subscribe(self.on_change)

    def configure(self, settings: WebhookSettings | None) -> None:
        self.flush()
        self.settings = settings

    def describe(self) -> dict[str, Any]:
        s = self.settings
        if s is None:
            return {"target_url": None, "subscriptions": []}
        return {
            "target_url": s.target_url,
            "max_batch": s.max_batch,
            "subscriptions": [{"id": sub.id, "subscriptionType": sub.name} for sub in s.subscriptions],
        }

    # ---- events -----------------------------------------------------------------------------
    def _matching(self, obj: str, kind: str, prop: str | None = None) -> list[Subscription]:
        assert self.settings is not None
        return [
            s
            for s in self.settings.subscriptions
            if s.object == obj
            and (s.kind == kind or s.kind == "*")
            and (s.property_name is None or s.property_name == prop)
        ]

    def _event(self, sub: Subscription, kind: str, event: ChangeEvent, **fields: Any) -> dict[str, Any]:
        writer = Writer.parse(event.source)
        api = writer.change_source == "API"
        body: dict[str, Any] = {
            "eventId": next(self._event_ids),
            "subscriptionId": sub.id,
            "portalId": self.config.portal_id,
            "appId": self.config.app_id,
            "occurredAt": event.stamp_ms,
            "subscriptionType": f"{sub.object}.{kind}",
            "attemptNumber": 0,
            "changeSource": "API" if api else "CRM",
            "sourceId": writer.source_id if api else f"userId:{writer.source_id}",
        }
        body.update(fields)
        return body

    def on_change(self, event: ChangeEvent) -> None:
        if self.settings is None:
            return
        ot = OBJECT_TYPES_BY_NAME.get(event.collection)
        if ot is None:
            return
        obj, object_id = ot.singular, int(event.record_id)
        found: list[dict[str, Any]] = []
        if event.kind in ("create", "update"):
            if event.kind == "create":
                for sub in self._matching(obj, "creation"):
                    found.append(self._event(sub, "creation", event, objectId=object_id, changeFlag="NEW"))
            record = self.portal.collection(ot).get(event.record_id, include_deleted=True)
            for name in event.changed:
                for sub in self._matching(obj, "propertyChange", name):
                    value = record.fields.get(name, "") if record is not None else ""
                    found.append(
                        self._event(
                            sub,
                            "propertyChange",
                            event,
                            objectId=object_id,
                            propertyName=name,
                            propertyValue=value,
                        )
                    )
        elif event.kind == "delete":
            for sub in self._matching(obj, "deletion"):
                found.append(self._event(sub, "deletion", event, objectId=object_id, changeFlag="DELETED"))
        elif event.kind == "restore":
            for sub in self._matching(obj, "restore"):
                found.append(self._event(sub, "restore", event, objectId=object_id, changeFlag="RESTORED"))
        elif event.kind == "merge" and "merged_ids" in event.extra:
            merged = [int(i) for i in event.extra["merged_ids"]]
            for sub in self._matching(obj, "merge"):
                found.append(
                    self._event(
                        sub,
                        "merge",
                        event,
                        objectId=object_id,
                        primaryObjectId=int(event.extra["primary_id"]),
                        mergedObjectIds=merged,
                        newObjectId=object_id,
                    )
                )
        elif event.kind == "association":
            found += self._association_events(event, obj)
        if found:
            self._pending.extend(found)
            self._schedule()

    def _association_events(self, event: ChangeEvent, obj: str) -> list[dict[str, Any]]:
        to_ot = OBJECT_TYPES_BY_NAME[event.extra["to_type"]]
        from_id, to_id = int(event.record_id), int(event.extra["to_id"])
        removed = bool(event.extra["removed"])
        type_ids = event.extra["type_ids"] or (0,)
        found = []
        for type_id in type_ids:
            atype = association_type(type_id)
            inverse = association_type(atype.inverse_id) if atype else None
            sides = [(obj, from_id, to_id, atype), (to_ot.singular, to_id, from_id, inverse)]
            for side_obj, a, b, side_type in sides:
                name = side_type.name.upper() if side_type else f"{side_obj}_TO_{to_ot.singular}".upper()
                for sub in self._matching(side_obj, "associationChange"):
                    found.append(
                        self._event(
                            sub,
                            "associationChange",
                            event,
                            associationType=name.removesuffix("_UNLABELED"),
                            fromObjectId=a,
                            toObjectId=b,
                            associationRemoved=removed,
                            isPrimaryAssociation=bool(side_type and side_type.label == "Primary"),
                        )
                    )
        return found

    # ---- delivery ---------------------------------------------------------------------------
    def _schedule(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)  # everything one request wrote goes out together

    def flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        settings = self.settings
        if settings is None or not pending:
            return
        for start in range(0, len(pending), settings.max_batch):
            chunk = pending[start : start + settings.max_batch]
            self.runtime.webhooks.enqueue(
                settings.target_url,
                self._renderer(settings, chunk),
                self._retry,
                meta={"events": len(chunk), "types": sorted({e["subscriptionType"] for e in chunk})},
            )

    def _renderer(self, settings: WebhookSettings, events: list[dict[str, Any]]) -> Any:
        def render(attempt: int) -> tuple[bytes, dict[str, str]]:
            body = orjson.dumps([{**e, "attemptNumber": attempt} for e in events])
            timestamp = self.runtime.clock.now_ms()
            return body, {
                "Content-Type": "application/json",
                "X-HubSpot-Signature": sign_v1(settings.client_secret, body),
                "X-HubSpot-Signature-Version": "v1",
                "X-HubSpot-Signature-v3": sign_v3(settings.client_secret, "POST", settings.target_url, body, timestamp),
                "X-HubSpot-Request-Timestamp": str(timestamp),
                "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (crmsync emulator)",
            }

        return render

    def _retry(self, attempts: int, status: int | None) -> float | None:
        if attempts > MAX_RETRIES:
            return None
        return _RETRY_BASE_S[attempts - 1] * self._rng.uniform(0.75, 1.25)
