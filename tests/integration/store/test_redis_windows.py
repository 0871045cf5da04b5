"""Rate windows shared through Redis: the sliced windows of the state database, counted atomically in Redis."""

from __future__ import annotations

import asyncio
import sys

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from crmsync.connectors.limits import Rate, RateLimiter
from crmsync.engine.redis_windows import RedisWindows
from crmsync.errors import TransientError
from crmsync.store.rate_windows import SLICES
from tests.integration.store.redis_server import redis_prefix, redis_url  # noqa: F401  (fixtures)
from tests.integration.store.shared_limits_support import ADMISSION_BLUR_S, admit_together, most_in_any

pytestmark = pytest.mark.redis

CLOSED_PORT_URL = "redis://:do-not-show-me@127.0.0.1:1/0"  # nothing listens on port 1
PROCESS = """
import asyncio, sys, time
from crmsync.connectors.limits import Rate, RateLimiter
from crmsync.engine.redis_windows import RedisWindows

async def main(url: str, prefix: str, count: int) -> None:
    windows = RedisWindows(url, prefix=prefix)
    limiter = RateLimiter("hubspot", [Rate(5, 1.0)], concurrency=8)
    limiter.share(windows)
    try:
        for _ in range(count):
            await limiter.acquire()
            print(time.time(), flush=True)
            limiter.release()
    finally:
        await windows.aclose()

print("ready", flush=True)
sys.stdin.readline()
asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


class FakeClock:
    """Seconds since the epoch that a test sets; Redis's own clock is not used then."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def keys_of(url: str, prefix: str) -> dict[str, tuple[int, int]]:
    """Every key under `prefix` with its count and its time to live in ms."""
    client = Redis.from_url(url, decode_responses=True)
    try:
        found = {}
        async for key in client.scan_iter(match=f"{prefix}*"):
            found[str(key)] = (int(await client.get(key) or 0), int(await client.pttl(key)))
        return found
    finally:
        await client.aclose()


async def start_process(url: str, prefix: str, requests: int) -> asyncio.subprocess.Process:
    """A worker-like process that sends `requests` through a limiter shared in Redis once told to go."""
    pipe = asyncio.subprocess.PIPE
    args = ("-c", PROCESS, url, prefix, str(requests))
    return await asyncio.create_subprocess_exec(sys.executable, *args, stdin=pipe, stdout=pipe)


async def test_a_window_admits_its_limit_then_says_how_long_to_wait(redis_url: str, redis_prefix: str) -> None:  # noqa: F811
    clock = FakeClock(1_000.0)
    windows = RedisWindows(redis_url, prefix=redis_prefix, clock=clock)
    rates = [(3, 10.0)]
    try:
        admitted = []
        for i in range(3):
            clock.now = 1_000.0 + i
            admitted.append(await windows.take("hubspot", rates))
        clock.now = 1_003.0
        refused = await windows.take("hubspot", rates)
        assert admitted == [0.0, 0.0, 0.0]
        # The first request (at 1,000 s, in the slice [1,000, 1,001)) leaves the 10 s window at 1,011 s.
        assert refused == pytest.approx(1_011.0 - 1_003.0)
        clock.now = 1_010.5
        assert await windows.take("hubspot", rates) == pytest.approx(0.5)  # still inside its last slice
        clock.now = 1_011.0
        assert await windows.take("hubspot", rates) == 0.0
        assert await windows.take("salesforce", rates) == 0.0  # another key counts apart
        clock.now = 1_011.5
        # Now 1,001, 1,002 and 1,011 count: the next leaves at 1,012 (the slice of 1,001 ends at 1,002).
        assert await windows.take("hubspot", rates) == pytest.approx(1_012.0 - 1_011.5)
    finally:
        await windows.aclose()
    counted = await keys_of(redis_url, redis_prefix)
    assert sum(count for count, _ in counted.values()) == 5  # the refused takes counted nothing
    assert SLICES == 10


async def test_every_rate_of_a_key_must_admit_and_a_refusal_counts_in_none(redis_url: str, redis_prefix: str) -> None:  # noqa: F811
    clock = FakeClock(5.0)
    windows = RedisWindows(redis_url, prefix=redis_prefix, clock=clock)
    rates = [(2, 1.0), (100, 60.0)]
    try:
        for i in range(2):
            clock.now = 5.0 + i / 10
            assert await windows.take("dv", rates) == 0.0
        clock.now = 5.2
        assert await windows.take("dv", rates) == pytest.approx(6.1 - 5.2)  # the 1 s window is full
        minute = {k: v for k, v in (await keys_of(redis_url, redis_prefix)).items() if "@60s" in k}
        assert sum(count for count, _ in minute.values()) == 2  # the minute did not count the refused one
        clock.now = 6.2
        assert await windows.take("dv", rates) == 0.0
        # Another key fills its minute window: 100 requests 0.6 s apart, so the 1 s window never refuses.
        for n in range(100):
            clock.now = 10.0 + 0.6 * n
            assert await windows.take("hs", rates) == 0.0, n
        clock.now = 70.0
        # The minute's slice [6, 12) (4 requests) leaves the window at 72 s.
        assert await windows.take("hs", rates) == pytest.approx(2.0)
    finally:
        await windows.aclose()


async def test_slices_expire_by_themselves(redis_url: str, redis_prefix: str) -> None:  # noqa: F811
    windows = RedisWindows(redis_url, prefix=redis_prefix)  # Redis's clock, like production
    try:
        assert await windows.take("hubspot", [(5, 0.3), (50, 3.0)]) == 0.0
    finally:
        await windows.aclose()
    counted = await keys_of(redis_url, redis_prefix)
    assert len(counted) == 2  # one slice per window
    for key, (count, ttl_ms) in counted.items():
        # A slice counts for at most a period and one slice; it lives no longer than that (and a millisecond).
        longest = 331 if "@0.3s" in key else 3_301
        # Redis expires a key whose time to live runs out: no process has to sweep the slices (no key lives on
        # without one, which would show -1 here). Waiting for Redis to do it would only test Redis.
        assert count == 1 and 0 < ttl_ms <= longest, (key, ttl_ms)


async def test_on_redis_clock_a_full_window_waits_less_than_a_period(redis_url: str, redis_prefix: str) -> None:  # noqa: F811
    windows = RedisWindows(redis_url, prefix=redis_prefix)
    rates = [(4, 0.5)]
    try:
        assert [await windows.take("hubspot", rates) for _ in range(4)] == [0.0] * 4
        wait = await windows.take("hubspot", rates)
        assert 0 < wait <= 0.5 + 0.05  # at most a period and one slice after the first request

        again = await windows.take("hubspot", rates)
        assert 0 < again <= wait  # not before it said: the same slice still counts, by Redis's clock
        # The one real wait: Redis's own clock cannot be moved (the fake-clock tests above cover the arithmetic);
        # what this checks is that the wait Redis's clock gave is enough, on that clock.
        await asyncio.sleep(again)
        assert await windows.take("hubspot", rates) == 0.0
    finally:
        await windows.aclose()


async def test_limiters_with_their_own_redis_clients_stay_under_one_limit_together(
    redis_url: str,  # noqa: F811
    redis_prefix: str,  # noqa: F811
) -> None:
    """Three limiters, each with its own Redis client as separate workers have, share 5 requests a second."""
    windows = [RedisWindows(redis_url, prefix=redis_prefix) for _ in range(3)]
    limiters = [RateLimiter("hubspot", [Rate(5, 1.0)], concurrency=8) for _ in windows]
    for limiter, shared in zip(limiters, windows, strict=True):
        limiter.share(shared)
    try:
        admitted = await admit_together(limiters, 6)
    finally:
        for shared in windows:
            await shared.aclose()
    assert len(admitted) == 18
    assert [limiter.admitted for limiter in limiters] == [6, 6, 6]
    # In any one second at most 5 requests went, whichever limiter sent them (slices make it conservative).
    assert most_in_any(admitted, 1.0 - ADMISSION_BLUR_S) <= 5
    assert max(admitted) - min(admitted) >= 2.0  # 18 at 5 a second: the third second at the earliest


async def test_worker_processes_stay_under_one_limit_together(redis_url: str, redis_prefix: str) -> None:  # noqa: F811
    processes = [await start_process(redis_url, redis_prefix, 6) for _ in range(3)]
    try:
        for process in processes:
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
        for process in processes:  # all start together, so they compete for the same windows
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        outputs = [await asyncio.wait_for(process.communicate(), 60) for process in processes]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert [process.returncode for process in processes] == [0, 0, 0]
    admitted = [float(line) for out, _ in outputs for line in out.decode().split()]
    assert len(admitted) == 18
    assert most_in_any(admitted, 1.0 - ADMISSION_BLUR_S) <= 5
    assert max(admitted) - min(admitted) >= 2.0


async def test_a_redis_that_is_down_stops_requests_with_a_retryable_error_naming_it() -> None:
    windows = RedisWindows(CLOSED_PORT_URL, timeout_s=2)
    limiter = RateLimiter("hubspot", [Rate(5, 1.0)])
    limiter.share(windows)
    try:
        with capture_logs() as logs:
            for _ in range(2):
                with pytest.raises(TransientError) as caught:
                    await limiter.acquire()
    finally:
        await windows.aclose()
    message = str(caught.value)
    assert message.startswith("hubspot: the rate limits shared through Redis at redis://:***@127.0.0.1:1/0 cannot")
    assert "no request is sent unlimited" in message
    assert "do-not-show-me" not in message and "do-not-show-me" not in repr(windows)
    assert limiter.admitted == 0 and limiter.state()["in_flight"] == 0  # nothing went out unlimited
    # Said once in the logs, not at every refused request.
    assert [(e["log_level"], e["redis"]) for e in logs] == [("warning", "redis://:***@127.0.0.1:1/0")]
    assert "do-not-show-me" not in str(logs)


async def test_a_redis_that_refuses_the_password_is_a_retryable_error_without_it(redis_url: str) -> None:  # noqa: F811
    # No such ACL user on the test server: AUTH is refused as it is for a wrong password.
    windows = RedisWindows(redis_url.replace("redis://", "redis://no-such-user:wrong-password-123@"))
    try:
        with pytest.raises(TransientError) as caught:
            await windows.take("salesforce", [(5, 1.0)])
    finally:
        await windows.aclose()
    assert "redis://no-such-user:***@127.0.0.1" in str(caught.value)
    assert "wrong-password-123" not in str(caught.value)
