"""The per-connection circuit breaker: a failing CRM is paused with a doubling cooldown; a success resets it."""

from __future__ import annotations

from crmsync.service.breaker import ConnectionBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_failing_connection_is_paused_with_a_doubling_cooldown_and_a_success_resets_it() -> None:
    clock = Clock()
    breaker = ConnectionBreaker(first_s=10, max_s=25, monotonic=clock)
    everyone = {"salesforce", "hubspot", "dynamics"}
    assert breaker.next_resume() == float("inf")
    breaker.record(everyone, {"salesforce"})
    assert breaker.paused() == {"salesforce"} and breaker.state() == {"salesforce": 10.0}
    assert breaker.next_resume() == 10.0  # when the scheduler wakes to try it again
    clock.now = 9.9
    breaker.record(everyone - breaker.paused(), set())  # the others went on and stay unpaused
    assert breaker.paused() == {"salesforce"}
    clock.now = 10.0  # the cooldown is over: the next pass tries it again
    assert breaker.paused() == frozenset()
    breaker.record(everyone, {"salesforce"})
    assert breaker.state() == {"salesforce": 20.0}
    clock.now = 30.0
    breaker.record(everyone, {"salesforce"})
    assert breaker.state() == {"salesforce": 25.0}  # capped
    clock.now = 55.0
    breaker.record(everyone, set())
    assert breaker.paused() == frozenset()
    breaker.record(everyone, {"salesforce"})
    assert breaker.state() == {"salesforce": 10.0}  # a success started it over


def test_a_connection_whose_pause_is_over_is_probed_until_a_pass_clears_it() -> None:
    clock = Clock()
    breaker = ConnectionBreaker(first_s=10, monotonic=clock)
    breaker.record({"salesforce", "hubspot"}, {"salesforce"})
    assert breaker.probing() == frozenset()  # paused, not yet due
    clock.now = 10.0
    assert breaker.probing() == {"salesforce"} and breaker.paused() == frozenset()
    breaker.record({"salesforce", "hubspot"}, set())
    assert breaker.probing() == frozenset()  # it answered: calls get their whole retry budget again
