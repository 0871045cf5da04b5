"""Rolling windows, daily budgets, the controllable clock and issued tokens."""

from __future__ import annotations

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.limits import Concurrency, DailyBudget, RollingWindow
from crmsync.emulators.core.tokens import TokenBook


def frozen_clock() -> EmulatorClock:
    clock = EmulatorClock(now=lambda: 1_700_000_000.0)
    clock.freeze()
    return clock


def test_rolling_window_admits_limit_then_waits_for_the_oldest_to_age_out() -> None:
    clock = frozen_clock()
    window = RollingWindow(clock, limit=3, window_ms=10_000)
    assert [window.try_take() for _ in range(4)] == [True, True, True, False]
    assert window.retry_after_ms() == 10_000
    clock.advance(10_000)
    assert window.remaining() == 3
    assert window.try_take()


def test_daily_budget_counts_and_resets_at_midnight_when_not_rolling() -> None:
    clock = frozen_clock()
    budget = DailyBudget(clock, 2, rolling=False)
    assert budget.try_take() and budget.try_take() and not budget.try_take()
    assert budget.used == 2
    clock.advance(86_400_000)
    assert budget.remaining() == 2


def test_concurrency_cap() -> None:
    gate = Concurrency(1)
    assert gate.try_enter()
    assert not gate.try_enter()
    gate.leave()
    assert gate.try_enter()


def test_clock_set_advance_freeze_thaw_and_listeners() -> None:
    now = [100.0]
    clock = EmulatorClock(now=lambda: now[0])
    changes: list[int] = []
    clock.on_change(lambda: changes.append(clock.now_ms()))
    clock.set(5_000)
    assert clock.now_ms() == 5_000
    now[0] += 1
    assert clock.now_ms() == 6_000
    clock.freeze()
    now[0] += 1
    assert clock.now_ms() == 6_000
    clock.advance(500)
    clock.thaw()
    now[0] += 1
    assert clock.now_ms() == 7_500
    assert len(changes) == 4


def test_tokens_expire_on_the_emulator_clock_and_static_ones_never_do() -> None:
    clock = frozen_clock()
    book = TokenBook(clock, prefix="00D!")
    token = book.issue("user", lifetime_s=60)
    book.add_static("pat-na1-static", "app")
    assert token.startswith("00D!")
    assert book.check(token)[0] == "ok"
    clock.advance(60_000)
    assert book.check(token)[0] == "expired"
    assert book.check("pat-na1-static")[0] == "ok"
    assert book.check("nope")[0] == "invalid"
    assert book.check(None)[0] == "invalid"
    fresh = book.issue("user", lifetime_s=60)
    assert book.expire_all() == 2
    assert book.check(fresh)[0] == "expired"
