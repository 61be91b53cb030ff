"""When a failed attempt is retried on its target (call/retry.py)."""

from __future__ import annotations

from tokligence.call.retry import RetryPolicy
from tokligence.errors import UpstreamErrorStatus, UpstreamTimeout

POLICY = RetryPolicy(max_retries=2, backoff=0.5, max_wait=30.0)
BROKEN = UpstreamTimeout("timeout", "silent")


def limited(retry_after: float) -> UpstreamErrorStatus:
    return UpstreamErrorStatus("rate_limit", "slow down", status=429, retry_after=retry_after)


def test_backoff_is_full_jitter_doubling_per_attempt() -> None:
    for attempt, ceiling in ((0, 0.5), (1, 1.0)):
        waits = [POLICY.delay(BROKEN, attempt, remaining=100) for _ in range(200)]
        assert all(w is not None and 0 <= w <= ceiling for w in waits)
        assert max(w for w in waits if w is not None) > ceiling / 2  # jittered, not fixed


def test_no_retry_past_max_retries() -> None:
    assert POLICY.delay(BROKEN, 2, remaining=100) is None


def test_retry_after_is_honoured_up_to_max_wait() -> None:
    assert POLICY.delay(limited(3), 0, remaining=100) == 3
    assert POLICY.delay(limited(31), 0, remaining=100) is None  # to the next target


def test_no_wait_outlasts_the_requests_deadline() -> None:
    assert POLICY.delay(limited(3), 0, remaining=2.5) is None
    assert POLICY.delay(limited(3), 0, remaining=3.5) == 3
    assert POLICY.delay(BROKEN, 1, remaining=0.0) is None
