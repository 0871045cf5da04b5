"""Dataverse webhooks: verify the shared key (HttpHeader or WebhookKey `?code=`), RemoteExecutionContext → hints."""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from pydantic import SecretStr

from crmsync.connectors.base import ChangeHint, HintKind
from crmsync.errors import SignatureError, VendorResponseError

_WCF_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_CHANGED = frozenset({"Create", "Update", "SetState", "SetStateDynamicEntity", "Assign", "Win", "Lose"})
_ASSOCIATIONS = frozenset({"Associate", "Disassociate"})


def parse_wcf_date(value: Any) -> datetime | None:
    """`/Date(1506409448000-0700)/` → UTC datetime (the milliseconds are UTC; the offset is informational)."""
    if not isinstance(value, str):
        return None
    match = _WCF_DATE.match(value)
    if match is None:
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            return None
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)


def _parameters(raw: Any) -> dict[str, Any]:
    """A WCF key/value list (`[{"key": …, "value": …}]`) as a dict."""
    out: dict[str, Any] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = item.get("value")
    return out


class DynamicsWebhookDecoder:
    """Verifies and decodes one Dataverse service endpoint's deliveries.

    `key` is the shared secret configured on the endpoint: sent as the `header` header (HttpHeader auth)
    or as `?code=` (WebhookKey auth); either is accepted. Dataverse signs nothing and sends no replay
    window of its own; with `max_age_s`, deliveries whose `OperationCreatedOn` is older are refused.
    """

    def __init__(
        self,
        key: SecretStr,
        *,
        header: str = "x-crmsync-key",
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not key.get_secret_value():
            raise ValueError("an empty webhook key was configured")
        self._key = key
        self._header = header.lower()
        self._max_age_s = max_age_s
        self._clock = clock

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        if method.upper() != "POST":
            raise SignatureError(f"dynamics webhook: unexpected method {method}")
        expected = self._key.get_secret_value().encode()
        lowered = {k.lower(): v for k, v in headers.items()}
        candidates = [lowered[self._header]] if self._header in lowered else []
        candidates.extend(parse_qs(urlsplit(url).query).get("code", []))
        if not candidates:
            raise SignatureError("dynamics webhook: no key (neither the header nor ?code=) was sent")
        # Compare every candidate in constant time; any match authenticates.
        if not any(hmac.compare_digest(c.encode(), expected) for c in candidates):
            raise SignatureError("dynamics webhook: the key does not match")
        if self._max_age_s is not None:
            context = self._context(body)
            created = parse_wcf_date(context.get("OperationCreatedOn"))
            if created is None or self._clock() - created.timestamp() > self._max_age_s:
                raise SignatureError("dynamics webhook: OperationCreatedOn is missing or outside the replay window")

    def decode(self, body: bytes) -> list[ChangeHint]:
        context = self._context(body)
        message = context.get("MessageName")
        entity = context.get("PrimaryEntityName")
        record_id = context.get("PrimaryEntityId")
        if not isinstance(message, str) or not isinstance(entity, str) or not isinstance(record_id, str):
            raise VendorResponseError(
                "dynamics webhook: the RemoteExecutionContext lacks MessageName/PrimaryEntityName/PrimaryEntityId",
                retryable=False,
            )
        occurred = parse_wcf_date(context.get("OperationCreatedOn"))
        event_id = self._event_id(context)
        inputs = _parameters(context.get("InputParameters"))

        def hint(kind: HintKind, hint_id: str, merged_into: str | None = None) -> ChangeHint:
            return ChangeHint(entity, hint_id, kind, occurred, event_id, merged_into)

        if message == "Delete":
            return [hint("deleted", record_id)]
        if message == "Merge":
            target = inputs.get("Target")
            target_id = target.get("Id") if isinstance(target, dict) else None
            survivor = target_id if isinstance(target_id, str) else record_id
            subordinate = inputs.get("SubordinateId")
            hints = [hint("changed", survivor)]
            if isinstance(subordinate, str):
                hints.append(hint("merged", subordinate, survivor))
            return hints
        if message in _ASSOCIATIONS:
            return [hint("associations", record_id)]
        if message in ("Create", "Update"):
            master = self._merged_into(inputs.get("Target"))
            if master is not None:
                return [hint("merged", record_id, master)]
        if message in _CHANGED or message.startswith(("Create", "Update")):
            return [hint("changed", record_id)]
        return [hint("changed", record_id)]  # other messages on a row: re-read it

    def acknowledge(self) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, b""

    # ---- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _context(body: bytes) -> dict[str, Any]:
        try:
            context = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise VendorResponseError("dynamics webhook: the body is not JSON", retryable=False) from exc
        if not isinstance(context, dict):
            raise VendorResponseError("dynamics webhook: the body is not a RemoteExecutionContext", retryable=False)
        return context

    @staticmethod
    def _event_id(context: Mapping[str, Any]) -> str | None:
        operation = context.get("OperationId")
        if isinstance(operation, str) and operation and operation != "00000000-0000-0000-0000-000000000000":
            return operation
        correlation, request = context.get("CorrelationId"), context.get("RequestId")
        if isinstance(correlation, str) and isinstance(request, str):
            return f"{correlation}:{request}"
        return None

    @staticmethod
    def _merged_into(target: Any) -> str | None:
        """An update that marks the row merged (merged=true, masterid set) re-points it to the master."""
        if not isinstance(target, dict):
            return None
        attributes = _parameters(target.get("Attributes"))
        master = attributes.get("masterid")
        master_id = master.get("Id") if isinstance(master, dict) else None
        if attributes.get("merged") is True and isinstance(master_id, str):
            return master_id
        return None
