"""Where a request's time went: the upstream's share and the gateway's own.

An :class:`UpstreamClock` is marked by the upstream client as each attempt
of a model call is sent, answers (its head, its first body bytes) and ends.
Whatever time of the request is not the upstream's is the gateway's own:
parsing, routing, translation, the ledger, retries' waits excepted (a wait
between attempts is counted as the upstream's, whose failure caused it).

The figures go out three ways, all computed here: the ``Server-Timing``
response header (the W3C convention browsers and tools read), the ledger
row (``gateway_ms``, ``upstream_ms``) and the access log. The gateway's
figure is taken when the response head is sent: for a whole JSON answer
that is after the upstream's whole body; for a stream, after the upstream's
first bytes (its time to first byte), so a long generation does not count
as the gateway's. Marks are a ``perf_counter`` call each, a few per request.
"""

from __future__ import annotations

import time

__all__ = ["CLOCK", "UpstreamClock", "server_timing"]

# The httpx request extension that carries a call's clock to the transport,
# which marks it as the request's bytes go out and the answer's come in:
# building the request and parsing the answer are the gateway's own time.
CLOCK = "tokligence.clock"


class UpstreamClock:
    """The upstream's time on one model call, over all its attempts."""

    __slots__ = ("_earlier", "_first", "_last", "_sent")

    def __init__(self) -> None:
        self._earlier = 0.0  # finished attempts, and the waits between them
        self._sent: float | None = None  # the current attempt's start
        self._first: float | None = None  # the current attempt's first answer (its head)
        self._last: float | None = None  # the current attempt's latest mark

    def sent(self) -> None:
        """An attempt goes out: earlier ones (and the wait since) are folded in."""
        now = time.perf_counter()
        if self._sent is not None:
            self._earlier += now - self._sent
        self._sent = self._last = now
        self._first = None

    def heard(self) -> None:
        """The upstream answered something: its head, first bytes, or end."""
        if self._sent is not None:
            self._last = time.perf_counter()
            if self._first is None:
                self._first = self._last

    def first_byte_seconds(self) -> float | None:
        """The upstream's time to its first answer, earlier attempts included."""
        if self._sent is None or self._first is None:
            return None
        return self._earlier + (self._first - self._sent)

    @property
    def called(self) -> bool:
        return self._sent is not None

    def seconds(self) -> float | None:
        """The upstream's time so far (None: no attempt was sent)."""
        if self._sent is None or self._last is None:
            return None
        return self._earlier + (self._last - self._sent)


def server_timing(gateway_ms: float, upstream_ms: float | None, *, stream: bool) -> str:
    """The ``Server-Timing`` header value for the two figures (milliseconds)."""
    value = f'gateway;dur={gateway_ms:.3f};desc="added by the gateway"'
    if upstream_ms is not None:
        what = "upstream time to first byte" if stream else "upstream"
        value += f', upstream;dur={upstream_ms:.3f};desc="{what}"'
    return value
