"""The opaque change cursor: a boundary stamp plus fingerprints of the rows already delivered at that stamp.

Reads are inclusive (`SystemModstamp >= stamp - lookback`), so rows sharing the boundary stamp are never
skipped; a row at the boundary is skipped only when its id and content fingerprint both match what was
delivered, so a row re-modified within the same stamp (a frozen or coarse clock) is delivered again. A
boundary group too large to list is recorded without ids: the next read delivers it again (at least once,
never skipped) until the stamp moves on.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from crmsync.connectors.base import Cursor
from crmsync.errors import ConfigError

PREFIX = "sf1:"
ZPREFIX = "sf1z:"
COMPRESS_OVER = 4096  # bytes of JSON


def fingerprint(row: Any) -> int:
    return zlib.crc32(orjson.dumps(row))


@dataclass(slots=True)
class StreamState:
    """Where one object's change stream stands: stamp (ms) and {id: fingerprint} delivered at it."""

    stamp: int | None = None
    seen: dict[str, int] = field(default_factory=dict)
    overflow: bool = False  # the boundary group was too large to list: it will be delivered again

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"s": self.stamp}
        if self.overflow:
            out["o"] = True
        elif self.seen:
            out["i"] = self.seen
        return out

    @classmethod
    def from_json(cls, raw: Any) -> StreamState:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise TypeError("stream state is not an object")
        stamp, seen = raw.get("s"), raw.get("i", {})
        if stamp is not None and not isinstance(stamp, int):
            raise TypeError("stamp is not an integer")
        if not isinstance(seen, dict) or not all(isinstance(v, int) for v in seen.values()):
            raise TypeError("seen ids are not a mapping of fingerprints")
        return cls(stamp, {str(k): v for k, v in seen.items()}, bool(raw.get("o", False)))

    def copy(self) -> StreamState:
        return StreamState(self.stamp, dict(self.seen), self.overflow)


@dataclass(slots=True)
class SalesforceCursor:
    object: str
    main: StreamState
    roles: StreamState | None = None  # OpportunityContactRole changes, for deal -> contact links

    def encode(self) -> Cursor:
        data: dict[str, Any] = {"o": self.object, "m": self.main.to_json()}
        if self.roles is not None:
            data["r"] = self.roles.to_json()
        raw = orjson.dumps(data)
        if len(raw) > COMPRESS_OVER:
            return Cursor(ZPREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 6)).decode())
        return Cursor(PREFIX + raw.decode())

    @classmethod
    def decode(cls, cursor: str, obj: str, connection: str) -> SalesforceCursor:
        try:
            if cursor.startswith(ZPREFIX):
                raw = zlib.decompress(base64.urlsafe_b64decode(cursor[len(ZPREFIX) :]))
            elif cursor.startswith(PREFIX):
                raw = cursor[len(PREFIX) :].encode()
            else:
                raise ValueError("not a Salesforce cursor")
            data = orjson.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("cursor is not an object")
            if data.get("o") != obj:
                raise ValueError(f"the cursor belongs to {data.get('o')!r}")
            roles = StreamState.from_json(data["r"]) if "r" in data else None
            return cls(obj, StreamState.from_json(data.get("m")), roles)
        except (ValueError, TypeError, KeyError, zlib.error) as exc:
            raise ConfigError(f"{connection}: salesforce {obj}: unusable change cursor ({exc})") from None
