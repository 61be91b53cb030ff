"""The circuit breaker's state table."""

from __future__ import annotations

from tokligence.routing.breaker import CircuitBreaker


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10)
    for t in range(2):
        assert breaker.allow(t)
        breaker.failure(t)
    assert breaker.state == "closed"
    breaker.failure(2)
    assert breaker.state == "open"
    assert not breaker.allow(5)


def test_success_resets_the_run() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=10)
    breaker.failure(0)
    breaker.success()
    breaker.failure(1)
    assert breaker.state == "closed"


def test_half_open_lets_exactly_one_probe_through() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10)
    breaker.failure(0)
    assert not breaker.allow(9.9)
    assert breaker.allow(10)
    assert breaker.state == "half_open"
    assert not breaker.allow(10.1)  # the probe is out
    breaker.success()
    assert breaker.state == "closed" and breaker.allow(11)


def test_failed_probe_reopens_for_another_cooldown() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10)
    breaker.failure(0)
    assert breaker.allow(10)
    breaker.failure(10)
    assert breaker.state == "open"
    assert not breaker.allow(19)
    assert breaker.allow(20)


def test_released_probe_can_be_retried() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10)
    breaker.failure(0)
    assert breaker.allow(10)
    breaker.release()
    assert breaker.allow(10.5)
