"""The jobs queue: transactional enqueue, per-key order, coalescing, leases, retries and dead letters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crmsync.store import LeaseLostError, NewJob, RetryPolicy, Store
from crmsync.store.jobs import PARKED
from tests.unit.store.helpers import FakeClock


async def enqueue(store: Store, *jobs: NewJob) -> list[int]:
    async with store.begin() as tx:
        return [await tx.jobs.enqueue(job) for job in jobs]


async def claim(store: Store, worker: str = "w1", limit: int = 10, kinds: list[str] | None = None) -> list[int]:
    async with store.begin() as tx:
        return [job.id for job in await tx.jobs.claim(worker, kinds, limit)]


async def complete(store: Store, job_id: int, worker: str = "w1") -> None:
    async with store.begin() as tx:
        await tx.jobs.complete(job_id, worker)


async def test_enqueue_commits_with_the_callers_transaction(store: Store) -> None:
    class Boom(Exception):
        pass

    async def change_then_crash() -> None:
        async with store.begin() as tx:
            await tx.cursors.put("sf", "Contact", "c1")
            await tx.jobs.enqueue(NewJob("contact:1", "fetch"))
            raise Boom

    with pytest.raises(Boom):
        await change_then_crash()
    async with store.read() as tx:
        assert await tx.jobs.list() == []
        assert await tx.cursors.get("sf", "Contact") is None


async def test_a_keys_jobs_run_one_at_a_time_in_id_order(store: Store) -> None:
    a1, b1, a2, a3 = await enqueue(
        store,
        NewJob("a", "fetch", coalesce=False),
        NewJob("b", "fetch", coalesce=False),
        NewJob("a", "push", coalesce=False),
        NewJob("a", "fetch", coalesce=False),
    )
    assert await claim(store) == [a1, b1]
    assert await claim(store) == []  # a2 waits for a1 even with idle workers
    await complete(store, a1)
    assert await claim(store, "w2") == [a2]
    await complete(store, a2, "w2")
    assert await claim(store) == [a3]


async def test_a_job_of_an_unclaimed_kind_still_blocks_its_key(store: Store) -> None:
    first, second = await enqueue(store, NewJob("a", "push"), NewJob("a", "fetch"))
    assert await claim(store, kinds=["fetch"]) == []
    assert await claim(store, kinds=["push"]) == [first]
    await complete(store, first)
    assert await claim(store, kinds=["fetch"]) == [second]


async def test_claim_respects_limit_and_priority(store: Store) -> None:
    low, high, mid = await enqueue(
        store, NewJob("a", "fetch", priority=0), NewJob("b", "fetch", priority=10), NewJob("c", "fetch", priority=5)
    )
    assert await claim(store, limit=2) == [high, mid]
    assert await claim(store, limit=2) == [low]


async def test_pending_job_absorbs_a_new_one_with_same_key_and_kind(store: Store) -> None:
    first, again, other_kind = await enqueue(
        store,
        NewJob("a", "fetch", {"v": 1}),
        NewJob("a", "fetch", {"v": 2}, priority=3),
        NewJob("a", "push", {"v": 3}),
    )
    assert again == first
    assert other_kind != first
    async with store.read() as tx:
        job = await tx.jobs.get(first)
    assert job is not None
    assert job.payload == {"v": 2}
    assert job.priority == 3


async def test_a_running_job_does_not_absorb_new_work(store: Store) -> None:
    (first,) = await enqueue(store, NewJob("a", "fetch", {"v": 1}))
    assert await claim(store) == [first]
    (second,) = await enqueue(store, NewJob("a", "fetch", {"v": 2}))
    assert second != first  # the running job may have read state before the change
    await complete(store, first)
    assert await claim(store) == [second]


async def test_run_after_delays_a_job(store: Store, clock: FakeClock) -> None:
    (job,) = await enqueue(store, NewJob("a", "fetch", run_after=clock() + timedelta(minutes=5)))
    assert await claim(store) == []
    clock.advance(timedelta(minutes=5))
    assert await claim(store) == [job]


async def test_failure_backs_off_exponentially_then_dead_letters(store: Store, clock: FakeClock) -> None:
    store.policy = RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=10), max_delay=timedelta(hours=1))
    (job_id,) = await enqueue(store, NewJob("a", "push"))
    delays = []
    for _ in range(2):
        assert await claim(store) == [job_id]
        async with store.begin() as tx:
            failed = await tx.jobs.fail(job_id, "w1", "HTTP 503")
        assert failed.status == "pending"
        delays.append(failed.run_after - clock())
        assert await claim(store) == []  # backing off
        clock.advance(failed.run_after - clock())
    assert delays == [timedelta(seconds=10), timedelta(seconds=20)]
    assert await claim(store) == [job_id]
    async with store.begin() as tx:
        dead = await tx.jobs.fail(job_id, "w1", "HTTP 503 again")
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 3, "HTTP 503 again")


async def test_a_dead_job_stops_blocking_its_key_and_can_be_retried(store: Store) -> None:
    first, second = await enqueue(store, NewJob("a", "push"), NewJob("a", "fetch"))
    assert await claim(store) == [first]
    async with store.begin() as tx:
        await tx.jobs.fail(first, "w1", "INVALID_EMAIL", permanent=True)
    assert await claim(store) == [second]
    await complete(store, second)
    async with store.begin() as tx:
        assert await tx.jobs.retry_dead(key="a") == 1
    assert await claim(store) == [first]


async def test_retry_in_overrides_the_backoff(store: Store, clock: FakeClock) -> None:
    (job_id,) = await enqueue(store, NewJob("a", "push"))
    await claim(store)
    async with store.begin() as tx:
        failed = await tx.jobs.fail(job_id, "w1", "429", retry_in=timedelta(seconds=7))
    assert failed.run_after == clock() + timedelta(seconds=7)


async def test_retry_in_zero_makes_the_job_runnable_at_once(store: Store, clock: FakeClock) -> None:
    (job_id,) = await enqueue(store, NewJob("a", "push"))
    await claim(store)
    async with store.begin() as tx:
        failed = await tx.jobs.fail(job_id, "w1", "quota", retry_in=timedelta(0))
    assert failed.run_after == clock()
    assert await claim(store) == [job_id]


async def test_heartbeat_extends_the_lease(store: Store, clock: FakeClock) -> None:
    (job_id,) = await enqueue(store, NewJob("a", "fetch"))
    await claim(store)
    clock.advance(store.policy.lease - timedelta(seconds=1))
    async with store.begin() as tx:
        until = await tx.jobs.heartbeat(job_id, "w1")
    assert until == clock() + store.policy.lease
    clock.advance(timedelta(seconds=30))
    async with store.begin() as tx:
        assert await tx.jobs.reap() == []


async def test_expired_lease_is_reaped_and_the_job_rerun(store: Store, clock: FakeClock) -> None:
    (job_id,) = await enqueue(store, NewJob("a", "fetch"))
    assert await claim(store, "dying") == [job_id]
    clock.advance(store.policy.lease + timedelta(seconds=1))  # the worker died: no heartbeat
    async with store.begin() as tx:
        assert await tx.jobs.reap() == [job_id]
    async with store.begin() as tx:
        (rerun,) = await tx.jobs.claim("w2")
    assert (rerun.id, rerun.attempts, rerun.locked_by) == (job_id, 2, "w2")
    # The first worker comes back too late: its effects must roll back with its transaction.
    with pytest.raises(LeaseLostError):
        await complete(store, job_id, "dying")
    with pytest.raises(LeaseLostError):
        async with store.begin() as tx:
            await tx.jobs.heartbeat(job_id, "dying")
    await complete(store, job_id, "w2")
    async with store.read() as tx:
        assert await tx.jobs.counts() == {"done": 1}


async def test_reaping_on_the_last_attempt_dead_letters(store: Store, clock: FakeClock) -> None:
    store.policy = RetryPolicy(max_attempts=1)
    (job_id,) = await enqueue(store, NewJob("a", "fetch"))
    await claim(store)
    clock.advance(store.policy.lease * 2)
    async with store.begin() as tx:
        assert await tx.jobs.reap() == [job_id]
        job = await tx.jobs.get(job_id)
    assert job is not None
    assert job.status == "dead"


async def test_fail_of_a_job_not_held_raises(store: Store) -> None:
    (job_id,) = await enqueue(store, NewJob("a", "fetch"))
    with pytest.raises(LeaseLostError):
        async with store.begin() as tx:
            await tx.jobs.fail(job_id, "nobody", "x")


async def test_purge_done_removes_only_old_finished_jobs(store: Store, clock: FakeClock) -> None:
    done, pending = await enqueue(store, NewJob("a", "fetch"), NewJob("b", "fetch", run_after=clock() + timedelta(1)))
    await claim(store)
    await complete(store, done)
    clock.advance(timedelta(days=2))
    async with store.begin() as tx:
        assert await tx.jobs.purge_done(clock() - timedelta(days=1)) == 1
        assert [job.id for job in await tx.jobs.list()] == [pending]


async def pending_of(store: Store, key: str) -> list[tuple[int, dict[str, object]]]:
    async with store.read() as tx:
        return [(job.id, dict(job.payload)) for job in await tx.jobs.list(status="pending", key=key)]


async def test_a_failed_job_takes_in_the_newer_job_queued_while_it_ran(store: Store, clock: FakeClock) -> None:
    """One pending job per key and kind: the one given back keeps its place and takes the newer change."""
    first, link = await enqueue(store, NewJob("a", "push", {"v": 1}), NewJob("a", "link", coalesce=False))
    assert await claim(store) == [first]
    (newer,) = await enqueue(store, NewJob("a", "push", {"v": 2}, priority=5))
    async with store.begin() as tx:
        failed = await tx.jobs.fail(first, "w1", "HTTP 503")
    # The newer change would have run at once: it does not wait out the failed job's backoff.
    assert (failed.id, failed.status, failed.payload, failed.run_after, failed.priority) == (
        first, "pending", {"v": 2}, clock(), 5
    )  # fmt: skip
    assert await pending_of(store, "a") == [(first, {"v": 2}), (link, {})]
    async with store.read() as tx:
        assert await tx.jobs.get(newer) is None
    assert await claim(store) == [first]  # still before the link job queued after it


async def test_released_and_reaped_jobs_take_in_the_newer_job_of_their_key(store: Store, clock: FakeClock) -> None:
    released, reaped = await enqueue(store, NewJob("a", "push", {"v": 1}), NewJob("b", "push", {"v": 1}))
    assert await claim(store, "w1", kinds=["push"]) == [released, reaped]
    await enqueue(store, NewJob("a", "push", {"v": 2}), NewJob("b", "push", {"v": 2}), NewJob("c", "push"))
    async with store.begin() as tx:
        assert await tx.jobs.release_many([released], "w1", "connection down") == 1
    clock.advance(store.policy.lease + timedelta(seconds=1))
    async with store.begin() as tx:
        assert await tx.jobs.reap() == [reaped]
    assert await pending_of(store, "a") == [(released, {"v": 2})]
    assert await pending_of(store, "b") == [(reaped, {"v": 2})]
    async with store.read() as tx:
        assert len(await tx.jobs.list(status="pending")) == 3


async def test_dead_jobs_of_one_key_and_kind_go_back_as_one_with_the_newest_change(store: Store) -> None:
    ids = []
    for value in (1, 2):
        (job_id,) = await enqueue(store, NewJob("a", "push", {"v": value}))
        assert await claim(store) == [job_id]
        async with store.begin() as tx:
            await tx.jobs.fail(job_id, "w1", "INVALID_EMAIL", permanent=True)
        ids.append(job_id)
    await enqueue(store, NewJob("a", "push", {"v": 3}))
    async with store.begin() as tx:
        assert await tx.jobs.retry_dead(key="a") == 1
    assert await pending_of(store, "a") == [(ids[0], {"v": 3})]
    async with store.read() as tx:
        assert await tx.jobs.counts() == {"pending": 1}


async def test_the_jobs_of_a_gone_holder_take_in_the_newer_job_of_their_key(store: Store) -> None:
    first, other = await enqueue(store, NewJob("a", "push", {"v": 1}), NewJob("b", "push", {"v": 1}))
    assert await claim(store, "gone") == [first, other]
    await enqueue(store, NewJob("a", "push", {"v": 2}))
    async with store.begin() as tx:
        assert await tx.jobs.return_jobs_of("gone") == 2
    assert await pending_of(store, "a") == [(first, {"v": 2})]
    assert await pending_of(store, "b") == [(other, {"v": 1})]


async def test_a_dead_job_retried_while_a_later_job_of_its_key_runs_waits_for_it(store: Store) -> None:
    (dead,) = await enqueue(store, NewJob("a", "push", {"v": 1}))
    assert await claim(store) == [dead]
    async with store.begin() as tx:
        await tx.jobs.fail(dead, "w1", "INVALID_EMAIL", permanent=True)
    later, other = await enqueue(store, NewJob("a", "push", {"v": 2}), NewJob("b", "push"))
    assert await claim(store, limit=1) == [later]
    async with store.begin() as tx:
        assert await tx.jobs.retry_dead(key="a") == 1
    assert await claim(store, "w2") == [other]  # not the retried job: one job of a key runs at a time
    await complete(store, later)
    assert await claim(store, "w2") == [dead]


async def test_purge_done_with_a_limit_takes_the_oldest_and_leaves_dead_letters(store: Store, clock: FakeClock) -> None:
    ids = await enqueue(store, *(NewJob(key, "fetch") for key in "abcd"))
    assert await claim(store) == ids
    for job_id in ids[:3]:
        await complete(store, job_id)
    async with store.begin() as tx:
        await tx.jobs.fail(ids[3], "w1", "INVALID_EMAIL", permanent=True)
    clock.advance(timedelta(days=2))
    async with store.begin() as tx:
        assert await tx.jobs.purge_done(clock() - timedelta(days=1), limit=2) == 2
        assert [job.id for job in await tx.jobs.list()] == ids[2:]
        assert await tx.jobs.purge_done(clock() - timedelta(days=1), limit=2) == 1
        assert [job.status for job in await tx.jobs.list()] == ["dead"]


async def test_a_parked_job_waits_until_woken_and_leaves_the_queues_age_alone(store: Store, clock: FakeClock) -> None:
    parked, due = await enqueue(store, NewJob("a", "await:deal:hs", run_after=PARKED), NewJob("b", "refetch:deal:hs"))
    clock.advance(timedelta(days=30))
    async with store.read() as tx:
        assert await tx.jobs.oldest_pending() is not None
    assert await claim(store) == [due]  # a month on, still not due
    await complete(store, due)
    async with store.read() as tx:
        assert await tx.jobs.oldest_pending() is None  # the parked job is not work the queue falls behind on
        assert (await tx.jobs.due_mark())[0] == 0
    async with store.begin() as tx:
        assert await tx.jobs.wake(["await:deal:other"]) == 0
        assert await tx.jobs.wake(["await:deal:hs"]) == 1
    assert await claim(store) == [parked]
    async with store.begin() as tx:  # put back parked: not due again until the next wake
        assert await tx.jobs.release_many([parked], "w1", None, until=PARKED) == 1
    assert await claim(store) == []
    async with store.begin() as tx:
        await tx.jobs.wake(["await:deal:hs"])
        assert await tx.jobs.park(["await:deal:hs"]) == 1  # woken but never claimed: parked again
    assert await claim(store) == []
    async with store.read() as tx:
        (job,) = await tx.jobs.list("pending")
    assert (job.id, job.run_after, job.attempts) == (parked, PARKED, 0)


async def test_a_job_released_with_a_wait_spends_no_attempt_and_is_not_claimed_before_it(
    store: Store, clock: FakeClock
) -> None:
    """A job whose call failed while its run goes on writing to the CRM: given back unspent, but not at once, or the
    run would claim and resend it at once for as long as the call keeps failing."""
    (job_id,) = await enqueue(store, NewJob("a", "push"))
    assert await claim(store) == [job_id]
    async with store.begin() as tx:
        assert await tx.jobs.release_many([job_id], "w1", "TransientError: 503", retry_in=timedelta(seconds=30)) == 1
    assert await claim(store) == []
    clock.advance(timedelta(seconds=29))
    assert await claim(store) == []
    clock.advance(timedelta(seconds=1))
    assert await claim(store) == [job_id]
    async with store.read() as tx:
        job = await tx.jobs.get(job_id)
    assert job is not None and (job.attempts, job.last_error) == (1, "TransientError: 503")  # this claim's only


async def test_finish_parked_ends_only_the_parked_jobs_of_its_kind_and_keys(store: Store) -> None:
    parked, other_key, other_kind, due = await enqueue(
        store,
        NewJob("linkwait:sf/c1", "linkwait:contact:sf", run_after=PARKED),
        NewJob("linkwait:sf/c2", "linkwait:contact:sf", run_after=PARKED),
        NewJob("linkwait:sf/c1", "linkwait:deal:sf", run_after=PARKED),
        NewJob("linkwait:sf/c1", "linkwait:contact:sf:due"),
    )
    async with store.begin() as tx:
        assert await tx.jobs.finish_parked("linkwait:contact:sf", ["linkwait:sf/c1", "linkwait:sf/c9"]) == 1
        assert await tx.jobs.finish_parked("linkwait:contact:sf", []) == 0
    async with store.read() as tx:
        assert [job.id for job in await tx.jobs.list("done")] == [parked]
        assert [job.id for job in await tx.jobs.list("pending")] == [other_key, other_kind, due]


async def test_live_of_finds_the_pending_and_running_jobs_of_its_kind_and_keys(store: Store) -> None:
    write, fence, other_key, _, second = await enqueue(
        store,
        NewJob("sf/c1", "write:contact:sf"),
        NewJob("sf/c1", "refetch:contact:sf", coalesce=False),
        NewJob("sf/c2", "refetch:contact:sf", coalesce=False),
        NewJob("sf/c1", "refetch:deal:sf", coalesce=False),
        NewJob("sf/c1", "refetch:contact:sf", coalesce=False),  # never absorbed: each carries its own payload
    )
    # Keyed as the record's write, a fenced read runs only once that write is done (the queue's per-key order).
    assert await claim(store, kinds=["refetch:contact:sf"]) == [other_key]
    assert await claim(store, kinds=["write:contact:sf"]) == [write]
    await complete(store, write)
    assert await claim(store, kinds=["refetch:contact:sf"]) == [fence]
    async with store.read() as tx:
        live = await tx.jobs.live_of("refetch:contact:sf", ["sf/c1", "sf/c9"])
        assert [(job.id, job.status) for job in live] == [(fence, "running"), (second, "pending")]
        assert await tx.jobs.live_of("refetch:contact:sf", []) == []
    await complete(store, fence)
    async with store.read() as tx:
        assert [job.id for job in await tx.jobs.live_of("refetch:contact:sf", ["sf/c1"])] == [second]
