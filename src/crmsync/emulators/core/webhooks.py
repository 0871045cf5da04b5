"""Outbound webhook delivery with each vendor's retry policy, timed on the emulator clock.

Vendors render the body and headers per attempt (HubSpot puts `attemptNumber` in the body and
signs a fresh timestamp), and decide, from the attempt number and the answer, whether and when to
try again. Deliveries are kept for the control plane to list.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from crmsync.emulators.core.clock import EmulatorClock

Render = Callable[[int], tuple[bytes, dict[str, str]]]
# (attempts made so far, status or None for a connection failure) -> seconds to wait, or None to give up
RetryPolicy = Callable[[int, int | None], float | None]
Acknowledge = Callable[[int, bytes], bool]


def default_ack(status: int, body: bytes) -> bool:
    return 200 <= status < 300


@dataclass
class Attempt:
    at_ms: int
    status: int | None
    error: str | None
    duration_ms: float


@dataclass
class Delivery:
    id: int
    url: str
    render: Render
    retry: RetryPolicy
    ack: Acknowledge
    meta: dict[str, Any]
    next_attempt_ms: int
    state: Literal["pending", "delivered", "failed"] = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    last_body: bytes = b""

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "state": self.state,
            "attempts": [a.__dict__ for a in self.attempts],
            "next_attempt_ms": self.next_attempt_ms if self.state == "pending" else None,
            "meta": self.meta,
            "body": self.last_body.decode("utf-8", "replace"),
        }


class WebhookDispatcher:
    def __init__(self, clock: EmulatorClock, *, timeout_s: float = 5.0, verify: Any = True) -> None:
        self.clock = clock
        self.timeout_s = timeout_s
        self.verify = verify
        self.deliveries: list[Delivery] = []
        self._ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        clock.on_change(self._wake.set)

    def enqueue(
        self,
        url: str,
        render: Render,
        retry: RetryPolicy,
        *,
        ack: Acknowledge = default_ack,
        meta: dict[str, Any] | None = None,
    ) -> Delivery:
        delivery = Delivery(next(self._ids), url, render, retry, ack, meta or {}, next_attempt_ms=self.clock.now_ms())
        self.deliveries.append(delivery)
        self._idle.clear()
        self._wake.set()
        return delivery

    def pending(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.state == "pending"]

    def clear(self) -> None:
        self.deliveries.clear()
        self._idle.set()

    async def wait_idle(self) -> None:
        """Until nothing is due now (pending retries scheduled later do not count)."""
        while True:
            now = self.clock.now_ms()
            if not any(d.state == "pending" and d.next_attempt_ms <= now for d in self.deliveries):
                return
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s, verify=self.verify) as client:
            while True:
                self._wake.clear()
                now = self.clock.now_ms()
                due = [d for d in self.deliveries if d.state == "pending" and d.next_attempt_ms <= now]
                if due:
                    await asyncio.gather(*(self._attempt(client, d) for d in due))
                    continue
                self._idle.set()
                waiting = [d.next_attempt_ms for d in self.deliveries if d.state == "pending"]
                timeout = None
                if waiting and not self.clock.frozen:
                    timeout = max((min(waiting) - now) / 1000, 0.001)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        attempt_no = len(delivery.attempts)
        body, headers = delivery.render(attempt_no)
        delivery.last_body = body
        started = self.clock.now_ms()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        status: int | None = None
        error: str | None = None
        acked = False
        try:
            response = await client.post(delivery.url, content=body, headers=headers)
            status = response.status_code
            acked = delivery.ack(status, response.content)
            if not acked and 200 <= status < 300:
                error = "not acknowledged"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # InvalidURL is no HTTPError: escaping, it ended `run` and every later delivery was never sent.
            error = f"{type(exc).__name__}: {exc}"
        delivery.attempts.append(Attempt(started, status, error, round((loop.time() - t0) * 1000, 2)))
        if acked:
            delivery.state = "delivered"
            return
        delay = delivery.retry(len(delivery.attempts), status)
        if delay is None:
            delivery.state = "failed"
        else:
            delivery.next_attempt_ms = self.clock.now_ms() + int(delay * 1000)
