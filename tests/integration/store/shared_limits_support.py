"""What the tests of shared rate windows (database and Redis) have in common: limiters racing, windows checked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from crmsync.connectors.limits import RateLimiter


async def admit_together(limiters: Sequence[RateLimiter], each: int) -> list[float]:
    """Let every limiter admit `each` requests at once; the wall-clock times they were admitted, in order."""
    admitted: list[float] = []

    async def call(limiter: RateLimiter) -> None:
        await limiter.acquire()
        admitted.append(time.time())
        limiter.release()

    await asyncio.gather(*(call(limiter) for limiter in limiters for _ in range(each)))
    return sorted(admitted)


ADMISSION_BLUR_S = 0.25
"""How late a recorded admission time may be. Times are taken when each waiter resumes, not when its window
counted it; the windows admit the next request strictly after one period, by a margin that can be as small
as a microsecond, and under a loaded CI run a waiter resumed 170 ms after its take (the state database's
windows: the take's commit and the event loop in between). What these tests guard against, processes
racing past one limit together, admits the extra request within the same few ms, which this still catches."""


def most_in_any(times: Sequence[float], span_s: float) -> int:
    """The most of `times` that fall in any one window of `span_s` seconds."""
    ordered = sorted(times)
    return max((len([t for t in ordered[i:] if t < start + span_s]) for i, start in enumerate(ordered)), default=0)
