"""When a failed attempt is tried again on the same target (pure).

A fault the fault table calls retryable (``errors.fault_rule``) is retried
on its target up to ``max_retries`` times, after a full-jitter exponential
backoff, or after the upstream's own ``retry-after`` when it names one no
longer than ``max_wait``. No wait may outlast the request's deadline for its
response to begin (``CallContext.head_deadline``): past it, the call moves
on to the next target of the route, or answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import GatewayError


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    backoff: float = 0.5  # seconds before the first retry (then doubled)
    max_wait: float = 30.0  # a longer retry-after goes to the next target

    def delay(self, error: GatewayError, attempt: int, *, remaining: float) -> float | None:
        """Seconds before retrying after ``error`` on attempt ``attempt``
        (0-based), with ``remaining`` seconds left of the request's
        deadline; None: not on this target."""
        if attempt >= self.max_retries:
            return None
        if error.retry_after is not None:
            wait = error.retry_after if error.retry_after <= self.max_wait else None
        else:
            # Full jitter keeps many clients from retrying in lock step.
            wait = random.uniform(0, self.backoff * (2**attempt))
        return wait if wait is not None and wait < remaining else None
