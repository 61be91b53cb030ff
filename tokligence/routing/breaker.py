"""A per-upstream circuit breaker (pure: time is passed in).

Theory of operation
-------------------
``closed``: requests flow; each failure (connect error, timeout, 5xx/529)
adds to a run of consecutive failures, and any success resets it. When the
run reaches ``threshold`` the breaker *opens*: for ``cooldown`` seconds
requests skip this upstream (so a fallback target is tried at once instead
of waiting on a dead one). After the cooldown it is *half-open*: exactly one
request is let through as a probe; its success closes the breaker, its
failure opens it for another cooldown.

Client errors (4xx other than 429) say nothing about the upstream's health
and are not counted; 429 is counted neither way (the upstream is alive).

A breaker only steers traffic away from an upstream while another target
of the route can take it: the model call tries every target of a route
whose breakers are all refusing (Envoy's "panic" mode), so a route with
one provider is never turned into an outage by its own gateway. One client
request counts at most one failure per upstream, however often it was
retried there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]

DEFAULT_THRESHOLD = 5  # consecutive failures before we stop trying an upstream
DEFAULT_COOLDOWN = 30.0  # seconds an open breaker waits before a probe


@dataclass(kw_only=True, slots=True)
class CircuitBreaker:
    threshold: int = DEFAULT_THRESHOLD
    cooldown: float = DEFAULT_COOLDOWN
    state: State = "closed"
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False

    def allow(self, now: float) -> bool:
        """May a request go to this upstream now? A True in half-open state
        reserves the single probe; report its outcome with success/failure."""
        if self.state == "closed":
            return True
        if self.state == "open":
            if now - self.opened_at < self.cooldown:
                return False
            self.state = "half_open"
            self.probing = False
        if self.probing:
            return False
        self.probing = True
        return True

    def refusing(self, now: float) -> bool:
        """Would :meth:`allow` say no now? (Asks without taking the probe.)"""
        if self.state == "open":
            return now - self.opened_at < self.cooldown
        return self.state == "half_open" and self.probing

    def success(self) -> None:
        self.state = "closed"
        self.failures = 0
        self.probing = False

    def failure(self, now: float) -> None:
        self.probing = False
        if self.state == "half_open":
            self._open(now)
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self._open(now)

    def release(self) -> None:
        """The allowed request ended without telling us anything (e.g. the
        client went away): give the probe slot back."""
        self.probing = False

    def _open(self, now: float) -> None:
        self.state = "open"
        self.opened_at = now
        self.failures = 0
