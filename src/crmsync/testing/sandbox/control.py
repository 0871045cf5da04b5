"""An emulator's `/_emulator` control plane: reset, seed, clock, fault plans, statistics and vendor actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from crmsync.emulators.core.app import CONTROL_PREFIX
from crmsync.emulators.core.faults import FaultRule
from crmsync.testing.sandbox.session import LIMITS, TIMEOUT, VendorCallError, vendor_message


@dataclass(frozen=True, slots=True)
class ClockState:
    """The emulator's clock: every stamp, token lifetime and rate-limit window runs on it."""

    now_ms: int
    now: datetime
    frozen: bool


class ControlPlane:
    """Calls `/_emulator/...` of one emulator (no credentials: the control plane is the test's, not a user's)."""

    def __init__(self, vendor: str, base_url: str) -> None:
        self.vendor = vendor
        self.http = httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, limits=LIMITS)

    def __repr__(self) -> str:
        return f"ControlPlane({self.vendor!r}, {str(self.http.base_url)!r})"

    async def call(self, method: str, action: str, body: Any = None) -> Any:
        """Any control action (`merge`, `ui-edit`, `limits`, ...): its JSON answer; VendorCallError on >= 400."""
        path = f"{CONTROL_PREFIX}/{action}".rstrip("/")
        content = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        response = await self.http.request(method, path, content=content, headers=headers)
        if response.status_code >= 400:
            raise VendorCallError(self.vendor, method, path, response.status_code, vendor_message(response))
        return orjson.loads(response.content) if response.content else None

    async def info(self) -> dict[str, Any]:
        """Vendor name, accepted credentials, clock and record counts per object."""
        return dict(await self.call("GET", ""))

    async def counts(self) -> dict[str, int]:
        """Stored records per object, as the emulator counts them (deleted ones excluded)."""
        return dict((await self.info())["counts"])

    async def reset(self) -> None:
        """Empty the emulator (declared custom fields stay), clear faults, statistics and webhook deliveries."""
        await self.call("POST", "reset")

    async def seed(self, seed: int, records: int) -> dict[str, int]:
        return dict((await self.call("POST", "seed", {"seed": seed, "records": records}))["seeded"])

    # ---- clock ---------------------------------------------------------------------------------
    async def clock(self) -> ClockState:
        return _clock(await self.call("GET", "clock"))

    async def advance(self, seconds: float) -> ClockState:
        return _clock(await self.call("POST", "clock", {"advance_ms": round(seconds * 1000)}))

    async def set_clock(self, at: datetime) -> ClockState:
        return _clock(await self.call("POST", "clock", {"set_ms": round(at.timestamp() * 1000)}))

    async def freeze(self) -> ClockState:
        return _clock(await self.call("POST", "clock", {"freeze": True}))

    async def thaw(self) -> ClockState:
        return _clock(await self.call("POST", "clock", {"freeze": False}))

    # ---- faults and observation ----------------------------------------------------------------
    async def set_faults(self, rules: Sequence[FaultRule | Mapping[str, Any]], *, seed: int = 0) -> None:
        """Replace the fault plan; rules as `FaultRule` or its JSON form (`{"kind": "status", "status": 503}`)."""
        plan = [r.model_dump(mode="json") if isinstance(r, FaultRule) else dict(r) for r in rules]
        await self.call("PUT", "faults", {"rules": plan, "seed": seed})

    async def faults(self, *, fired: int = 0) -> list[dict[str, Any]]:
        """The current rules with how often each fired; `fired`: once they fired that often in all (bounded wait)."""
        return list((await self.call("GET", f"faults?fired={fired}" if fired else "faults"))["rules"])

    async def clear_faults(self) -> list[dict[str, Any]]:
        """Clear the fault plan; returns the report of the plan it replaced."""
        report = await self.faults()
        await self.call("DELETE", "faults")
        return report

    async def stats(self) -> dict[str, Any]:
        return dict(await self.call("GET", "stats"))

    async def reset_stats(self) -> None:
        await self.call("DELETE", "stats")

    async def deliveries(self, *, settled: bool = False) -> list[dict[str, Any]]:
        """Outbound webhook deliveries so far; `settled`: once every delivery due has been attempted."""
        return list((await self.call("GET", "deliveries?settled=true" if settled else "deliveries"))["deliveries"])

    async def aclose(self) -> None:
        await self.http.aclose()


def _clock(body: Mapping[str, Any]) -> ClockState:
    return ClockState(int(body["now_ms"]), datetime.fromisoformat(str(body["now"])), bool(body["frozen"]))


__all__ = ["ClockState", "ControlPlane"]
