"""The opaque change cursor: a full read's list position, or the (stamp, ids seen near it) search watermark.

Version 2 adds a content fingerprint per id seen: a record edited again within the stamp it was read at
(a coarse or frozen clock, or an edit in the millisecond of crmsync's own write) is delivered again rather
than skipped. Version 1 cursors (no fingerprints) stay readable; their ids are delivered again once at
an equal stamp, never skipped.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from crmsync.connectors.base import Cursor
from crmsync.errors import ConfigError

# Ids remembered from the lookback window. Beyond this only the boundary stamp's ids are kept: a
# burst of writes may then be delivered twice, never skipped.
MAX_SEEN = 20_000
VERSION = 2
READABLE = frozenset({1, VERSION})


@dataclass
class HubSpotCursor:
    """`mode="full"`: a full read resuming at list cursor `after`, to continue incrementally from `stamp`.

    `mode="incr"`: everything modified before `stamp` was delivered, and `seen` maps ids delivered in
    the lookback window to the stamp they were delivered at, so re-reading the window skips them;
    `prints` holds the content fingerprint of each of those ids, so an edit at an equal stamp is not skipped.
    `deleted`/`dseen` do the same for archived records (tombstones), keyed by `archivedAt`.
    """

    object: str
    mode: Literal["full", "incr"]
    stamp: int
    seen: dict[str, int] = field(default_factory=dict)
    deleted: int = 0
    dseen: dict[str, int] = field(default_factory=dict)
    after: str | None = None
    prints: dict[str, int] = field(default_factory=dict)

    def encode(self) -> Cursor:
        data: dict[str, Any] = {"v": VERSION, "o": self.object, "m": self.mode, "s": self.stamp}
        if self.mode == "full":
            data["a"] = self.after
        else:
            data |= {"seen": self.seen, "d": self.deleted, "dseen": self.dseen, "f": self.prints}
        return Cursor(base64.urlsafe_b64encode(orjson.dumps(data)).decode())

    @staticmethod
    def decode(cursor: str, object: str, connection: str) -> HubSpotCursor:
        try:
            data = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
            if not isinstance(data, dict) or data.get("v") not in READABLE:
                raise ValueError("unknown cursor version")
            mode = data["m"]
            if mode not in ("full", "incr") or not isinstance(data["s"], int):
                raise ValueError("bad mode or stamp")
            found = HubSpotCursor(
                object=str(data["o"]),
                mode=mode,
                stamp=data["s"],
                seen={str(k): int(v) for k, v in data.get("seen", {}).items()},
                deleted=int(data.get("d", 0)),
                dseen={str(k): int(v) for k, v in data.get("dseen", {}).items()},
                after=data.get("a"),
                prints={str(k): int(v) for k, v in data.get("f", {}).items()},
            )
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError) as exc:
            raise ConfigError(f"{connection}: {object}: not a HubSpot change cursor ({exc})") from exc
        if found.object != object:
            raise ConfigError(f"{connection}: a cursor of {found.object} was passed for {object}")
        return found


def fingerprint(properties: Mapping[str, Any]) -> int:
    """A record's content, to tell two reads at one stamp apart."""
    return zlib.crc32(orjson.dumps(properties, option=orjson.OPT_SORT_KEYS))


def prune(seen: dict[str, int], floor: int, boundary: int) -> dict[str, int]:
    """Keep what the next read's lookback window will meet again (from `floor` on)."""
    kept = {k: v for k, v in seen.items() if v >= floor}
    if len(kept) > MAX_SEEN:
        kept = {k: v for k, v in kept.items() if v >= boundary}
    return kept
