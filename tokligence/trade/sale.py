"""A sale's answer: the model call's response, with the seller's receipt.

Theory of operation
-------------------
A traded request is answered by the ordinary model call, through a
:class:`SaleResponder` standing between it and the buyer's connection:

* a **stream** (an event-stream head) goes out to the buyer as it comes,
  all but its end: when the call is over the seller posts the cost, and the
  receipt follows the dialect's last event as one more event
  (``metering.receipt_event``), then the response ends;
* a **whole answer** is held (it is written in one piece anyway) until the
  call is over; a 2xx answer then goes out with its receipt in the
  ``Tokligence-Receipt`` header, any other as it is.

So the receipt is signed over the usage the call settled
(``call/usage.py``), after the answer is complete, and the buyer has it
before the response ends. :func:`outcome` says what the call came to for
the book: ``ok``, ``error`` (the upstream failed after the stream began),
``aborted`` (the buyer went away, or the request ran past the execution
timeout) -- or nothing to bill, when no answer went out.
"""

from __future__ import annotations

from ..server.exchange import Responder
from .metering import receipt_event, stream_failed
from .receipts import HEADER as RECEIPT_HEADER
from .receipts import SignedReceipt

EVENT_STREAM = "text/event-stream"


class SaleResponder(Responder):
    """The model call's responder for a traded request (see the module
    docstring); ``inner`` is the buyer's."""

    def __init__(self, inner: Responder) -> None:  # no super(): every method is ours
        self._inner = inner
        self.record = inner.record
        self.started = False
        self.ended = False
        self.streaming = False  # an event stream went out
        self.failed = False  # with the dialect's in-stream error in it
        self.held: tuple[int, list[tuple[str, str]], list[bytes]] | None = None

    @property
    def disconnected(self) -> bool:
        return self._inner.disconnected

    async def start(
        self, status: int, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]
    ) -> None:
        if self.started:
            raise RuntimeError("response already started")
        self.started = True
        kept = list(headers)
        if any(name == "content-type" and EVENT_STREAM in value for name, value in kept):
            self.streaming = True
            await self._inner.start(status, kept)
        else:
            self.record.status = status
            # Its length changes with the receipt header: the inner
            # responder's respond() sets it.
            self.held = (status, [h for h in kept if h[0] != "content-length"], [])

    async def send(self, data: bytes) -> None:
        if self.streaming:
            if not self.failed and stream_failed(self.record.dialect or "", data):
                self.failed = True
            await self._inner.send(data)
        elif self.held is not None and data:
            self.held[2].append(data)

    async def flush(self) -> None:
        if self.streaming:
            await self._inner.flush()

    async def end(self) -> None:
        self.ended = True  # the stream's end waits for its receipt (finish)

    @property
    def billable(self) -> bool:
        """Whether an answer went to the buyer (or is ready to): a stream
        that began, or a whole 2xx answer."""
        return self.streaming or (self.held is not None and 200 <= self.held[0] < 300)

    async def finish(self, receipt: SignedReceipt | None) -> None:
        """Send what was held, with ``receipt`` when there is one."""
        if self.streaming:
            if receipt is not None:
                await self._inner.send(receipt_event(receipt.data))
            await self._inner.end()
        elif self.held is not None:
            status, headers, parts = self.held
            if receipt is not None:
                headers = [*headers, (RECEIPT_HEADER.lower(), receipt.header_value)]
            await self._inner.respond(status, headers, b"".join(parts))


def outcome(sale: SaleResponder, *, cut: bool) -> str | None:
    """The receipt's status for what the call came to, or None when there
    is nothing to bill (no answer went out, or the buyer left before a
    whole answer could)."""
    if not sale.billable or (not sale.streaming and (cut or sale.disconnected)):
        return None
    if cut or sale.disconnected:
        return "aborted"
    return "error" if sale.record.error is not None or sale.failed else "ok"
