"""Rate windows shared through Redis: processes on several machines admit requests under one vendor limit.

The accounting is the state database's (`crmsync.store.rate_windows`): each window is counted in
`SLICES` slices and the partly expired oldest slice still counts, so it never over-admits. One Lua
script reads and counts every window of a key atomically, on Redis's own clock (`TIME`), so
machines whose clocks disagree still agree on the windows. Each slice is its own key and expires by
itself once it can no longer count. Needs Redis 5 or newer (scripts that write after `TIME`) and
`maxmemory-policy noeviction`: an evicted slice would admit too much, and since every slice carries
a time to live, the `volatile-*` policies would evict them first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from crmsync.config.values import redis_password, redis_url_safe
from crmsync.errors import ConfigError, TransientError
from crmsync.store.rate_windows import SLICES

log = structlog.get_logger("crmsync.engine.redis_windows")

KEY_PREFIX = "crmsync:rate:"
TIMEOUT_S = 5.0
"""A Redis that does not answer in this time counts as down: the request waits for it, never goes unlimited."""

# KEYS[i]: the i-th window's key (its slices are KEYS[i]:<slice number>).
# ARGV[1]: slices per window; ARGV[2]: the time in µs, or "" for Redis's clock;
# then, per window, its limit and its period in µs.
# Returns 0 when one request was counted in every window, else the µs until one fits (nothing counted).
TAKE_SCRIPT = """
local slices = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local wait = 0
local counts_in = {}
for i, window in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local period = tonumber(ARGV[2 + 2 * i])
  local width = period / slices
  local current = math.floor(now / width)
  local names = {}
  for s = current - slices, current do
    names[#names + 1] = window .. ':' .. string.format('%d', s)
  end
  local counts = redis.call('MGET', unpack(names))
  local total = 0
  for j = 1, #counts do
    total = total + (tonumber(counts[j]) or 0)
  end
  if total >= limit then
    -- Full until enough of the oldest slices have left the window; a limit of 0 looks again after a period.
    local needed, freed, frees = total - limit + 1, 0, period
    for j = 1, #counts do
      freed = freed + (tonumber(counts[j]) or 0)
      if freed >= needed then
        frees = (current - slices + j) * width + period - now
        break
      end
    end
    if frees > wait then
      wait = frees
    end
  else
    -- The slice counts until it is older than the window plus one slice; then it removes itself.
    counts_in[#counts_in + 1] = {names[#names], math.ceil((period + width) / 1000) + 1}
  end
end
if wait > 0 then
  return math.ceil(wait)
end
for _, slice in ipairs(counts_in) do
  redis.call('INCR', slice[1])
  redis.call('PEXPIRE', slice[1], slice[2])
end
return 0
"""


class RedisWindows:
    """`SharedWindows` in Redis: one atomic script call per request, counted on Redis's clock.

    Owns its client: close it with `aclose()`. A Redis that is down or refuses raises TransientError
    (the request is retried later, never sent unlimited) and is logged once until it answers again.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = KEY_PREFIX,
        clock: Callable[[], float] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.url_safe = redis_url_safe(url)
        self.prefix = prefix
        self.clock = clock  # None: Redis's clock, which every process agrees on; tests inject one
        self._password = redis_password(url)
        self._client: Redis = Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            # A short retry for a dropped connection; a Redis that stays down is the caller's retry to make.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        )
        self._script = self._client.register_script(TAKE_SCRIPT)
        self._down = False

    def __repr__(self) -> str:
        return f"RedisWindows({self.url_safe!r})"

    def window_key(self, key: str, period_s: float) -> str:
        # The braces are a hash tag: every window of one key lives in one Redis Cluster slot.
        return f"{self.prefix}{{{key}}}@{period_s:g}s"

    async def take(self, key: str, rates: Sequence[tuple[int, float]]) -> float:
        """0.0 when one request is admitted under every rate of `key` (and counted), else seconds to wait."""
        if not rates:
            return 0.0
        now = "" if self.clock is None else str(round(self.clock() * 1_000_000))
        args: list[str | int] = [SLICES, now]
        for limit, period_s in rates:
            args += [limit, max(int(period_s * 1_000_000), SLICES)]
        try:
            wait_us = await self._script(keys=[self.window_key(key, p) for _, p in rates], args=args)
        except RedisError as exc:
            raise self._unavailable(key, exc) from None
        if self._down:
            self._down = False
            log.info("shared rate limits: Redis answers again", redis=self.url_safe)
        return int(wait_us) / 1_000_000

    def _unavailable(self, key: str, exc: RedisError) -> TransientError:
        reason = f"{type(exc).__name__}: {exc}"
        if self._password:
            reason = reason.replace(self._password, "***")
        if not self._down:
            self._down = True
            log.warning(
                "shared rate limits: Redis is unavailable; requests wait until it answers",
                redis=self.url_safe,
                error=reason,
            )
        return TransientError(
            f"{key}: the rate limits shared through Redis at {self.url_safe} cannot be counted ({reason}); "
            "no request is sent unlimited, retrying later"
        )

    async def aclose(self) -> None:
        await self._client.aclose()


NO_SUCH_DATABASE = "DB index is out of range"
"""Redis's answer to SELECT of a database number the server does not have (`databases` in redis.conf)."""


async def check_redis(url: str, *, timeout_s: float = TIMEOUT_S) -> None:
    """Connect once as every request will (AUTH, SELECT of the URL's database, PING) before a service starts.

    A database number the server does not have, a refused password or an unreachable server is a ConfigError
    naming the URL with its password masked; later it would only surface as every request waiting for Redis.
    """
    safe, password = redis_url_safe(url), redis_password(url)
    pool = ConnectionPool.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    database = pool.connection_kwargs.get("db", 0)
    client = Redis(connection_pool=pool)
    try:
        await client.ping()
    except ResponseError as exc:
        if NO_SUCH_DATABASE in str(exc):
            have = await _databases(url, timeout_s)
            among = f" (it has {have}, numbered 0 to {have - 1})" if have else ""
            raise ConfigError(
                f"state.redis_url: the Redis server at {safe} has no database {database}{among}; "
                "name one it has in the URL"
            ) from None
        reason = _masked(exc, password)
        raise ConfigError(f"state.redis_url: the Redis server at {safe} refused crmsync: {reason}") from None
    except (RedisError, OSError) as exc:
        raise ConfigError(f"state.redis_url: cannot reach Redis at {safe}: {_masked(exc, password)}") from None
    finally:
        await client.aclose()
        await pool.aclose()  # a pool given to Redis() is the giver's to close


async def _databases(url: str, timeout_s: float) -> int | None:
    """How many databases the server has, asked of database 0; None where CONFIG is not allowed."""
    pool = ConnectionPool.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, decode_responses=True
    )
    pool.connection_kwargs["db"] = 0  # the URL's own database is the one that is missing
    client = Redis(connection_pool=pool)
    try:
        found = (await client.config_get("databases")).get("databases")
        return int(found) if found is not None else None
    except (RedisError, OSError, ValueError):
        return None
    finally:
        await client.aclose()
        await pool.aclose()


def _masked(exc: BaseException, password: str | None) -> str:
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return reason.replace(password, "***") if password else reason


__all__ = ["KEY_PREFIX", "NO_SUCH_DATABASE", "TAKE_SCRIPT", "RedisWindows", "check_redis"]
