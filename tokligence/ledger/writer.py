"""The ledger writer: one trio task that group-commits rows off the hot path.

Theory of operation
-------------------
Requests hand their :class:`LedgerRow` to :meth:`LedgerWriter.submit`, which
puts it on a bounded memory channel and returns: no database work happens
on the request's path. When the channel is full, ``submit`` waits — back-
pressure slows requests down rather than dropping their records.

:meth:`LedgerWriter.run` is the only consumer (it lives in the caller's
nursery). It blocks until a row arrives — no timer ticks while idle — then
takes everything already queued (if the batch is short, it sleeps
``flush_interval`` once and takes what arrived meanwhile) and commits the
batch in one transaction in a worker thread (group commit: rows that arrive
during a commit form the next batch). The price table snapshot is
refreshed inside that transaction when the table's version moved, so
another process's new price is seen too.

A failing database never loses rows: the batch is kept and retried with
exponential backoff, ``healthy`` turns False with the error (logged at
ERROR on the ``tokligence.ledger`` logger), and the full channel applies
back-pressure until the database recovers.

:meth:`LedgerWriter.close` stops accepting new rows, lets submissions already
waiting finish, and returns once every accepted row is committed. A caller
that cannot wait (a shutdown deadline) cancels it; what was not written is
then counted in an ERROR log line, never silently dropped.

States: running (accepting) -> closing (refusing new rows, draining) ->
closed (run() returned). An error inside run() other than the database's
propagates to the nursery: a bug stops the gateway instead of hiding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import peewee
import trio
from playhouse.pool import MaxConnectionsExceeded

from . import db as dbmod
from .models import ENTRY_COLUMNS, LedgerEntry, entry_values
from .prices import PriceBook, cost_usd, load_price_book, price_version
from .row import LedgerRow

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000
DEFAULT_BATCH_SIZE = 256
# Waiting this long for a short batch to fill costs nothing on the request
# path and turns a trickle of rows into few commits.
DEFAULT_FLUSH_INTERVAL = 0.05
DEFAULT_RETRY_INITIAL = 0.1
DEFAULT_RETRY_MAX = 5.0
# Errors worth retrying: the database's own (peewee wraps the driver's)
# and an exhausted connection pool. Anything else is a bug and propagates.
DATABASE_ERRORS: tuple[type[Exception], ...] = (peewee.PeeweeException, MaxConnectionsExceeded)


class WriterClosed(RuntimeError):
    """submit() after close(): the row was not accepted."""


@dataclass(frozen=True, kw_only=True, slots=True)
class WriterStats:
    healthy: bool
    rows_written: int
    batches: int
    failures: int  # failed commit attempts since start
    last_error: str | None  # the latest failure, kept after recovery
    queued: int  # rows in the channel
    in_flight: int  # rows of the batch being committed or retried
    waiting_submitters: int  # submit() calls blocked on a full channel
    capacity: int
    closing: bool


# Called from the writer task whenever ``healthy`` flips; it must not block,
# and what it raises propagates like any other writer error.
HealthCallback = Callable[[WriterStats], None]


class LedgerWriter:
    def __init__(
        self,
        db: peewee.Database,
        *,
        capacity: int = DEFAULT_CAPACITY,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        retry_initial: float = DEFAULT_RETRY_INITIAL,
        retry_max: float = DEFAULT_RETRY_MAX,
        prices: PriceBook | None = None,
        on_health_change: HealthCallback | None = None,
    ) -> None:
        if capacity < 1 or batch_size < 1:
            raise ValueError("ledger capacity and batch_size must be at least 1")
        if flush_interval < 0 or retry_initial <= 0 or retry_max < retry_initial:
            raise ValueError("ledger flush/retry intervals are invalid")
        self._db = db
        self._backend = dbmod.backend_of(db)
        self._capacity = capacity
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        # A book without a version is reloaded from the table on the first batch.
        self._prices = prices if prices is not None else PriceBook(())
        self._on_health_change = on_health_change
        self._send, self._receive = trio.open_memory_channel[LedgerRow](capacity)
        self._closing = False
        self._pending_submits = 0
        self._submits_done: trio.Event | None = None
        self._finished = trio.Event()
        self._healthy = True
        self._rows_written = 0
        self._batches = 0
        self._failures = 0
        self._last_error: str | None = None
        self._in_flight = 0

    # -------------------------------------------------------------- producers

    def try_submit(self, row: LedgerRow) -> bool:
        """Queue ``row`` if the queue has room (True), without waiting. Raises
        :class:`WriterClosed` once :meth:`close` has begun."""
        if self._closing:
            raise WriterClosed("the ledger writer is closed")
        try:
            self._send.send_nowait(row)
        except trio.WouldBlock:
            return False
        return True

    async def submit(self, row: LedgerRow) -> None:
        """Queue ``row``; waits while the queue is full. Raises
        :class:`WriterClosed` once :meth:`close` has begun."""
        # The common case, room in the queue, costs no trip through the
        # scheduler; only a full queue makes the request wait.
        if self.try_submit(row):
            return
        self._pending_submits += 1
        try:
            await self._send.send(row)
        finally:
            self._pending_submits -= 1
            if self._pending_submits == 0 and self._submits_done is not None:
                self._submits_done.set()

    def cost(self, row: LedgerRow) -> Decimal | None:
        """The cost of ``row`` at the prices this writer knows (None:
        unpriced), for spend limits that cannot wait for the commit."""
        price = self._prices.find(model=row.model, provider=row.provider, at=row.created_at)
        return cost_usd(row, price) if price is not None else None

    def invalidate_prices(self) -> None:
        """Reload the price table before the next batch (after an edit the
        version check cannot see, e.g. an UPDATE made by hand)."""
        self._prices = PriceBook(self._prices.entries, None)

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def stats(self) -> WriterStats:
        channel = self._send.statistics()
        return WriterStats(
            healthy=self._healthy,
            rows_written=self._rows_written,
            batches=self._batches,
            failures=self._failures,
            last_error=self._last_error,
            queued=channel.current_buffer_used,
            in_flight=self._in_flight,
            waiting_submitters=channel.tasks_waiting_send,
            capacity=self._capacity,
            closing=self._closing,
        )

    # --------------------------------------------------------------- shutdown

    async def close(self) -> None:
        """Stop accepting rows and return when every accepted row is written.

        run() must be running. Cancel this call to give up waiting (a
        shutdown deadline); the unwritten rows are then logged as lost.
        """
        if not self._closing:
            self._closing = True
            if self._pending_submits:
                self._submits_done = trio.Event()
                await self._submits_done.wait()
            await self._send.aclose()
        await self._finished.wait()

    # ----------------------------------------------------------------- writer

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The single writer task; returns after close() has drained the queue."""
        task_status.started()
        batch: list[LedgerRow] = []
        try:
            while True:
                batch = await self._next_batch()
                if not batch:
                    break
                self._in_flight = len(batch)
                await self._commit(batch)
                self._in_flight = 0
                batch = []
        finally:
            lost = len(batch) + self._receive.statistics().current_buffer_used
            self._receive.close()
            if lost:
                log.error("ledger writer stopped with %d rows not written", lost)
            self._in_flight = 0
            self._finished.set()

    async def _next_batch(self) -> list[LedgerRow]:
        try:
            first = await self._receive.receive()
        except trio.EndOfChannel:
            return []
        batch = [first]
        while len(batch) < self._batch_size:
            try:
                batch.append(self._receive.receive_nowait())
            except trio.WouldBlock:
                break
            except trio.EndOfChannel:
                return batch
        if len(batch) < self._batch_size and self._flush_interval > 0:
            # Let a short batch fill by sleeping once, not by waking for
            # every row: under load that would be a scheduler trip per row.
            await trio.sleep(self._flush_interval)
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
        return batch

    async def _commit(self, batch: Sequence[LedgerRow]) -> None:
        delay = self._retry_initial
        while True:
            try:
                self._prices = await trio.to_thread.run_sync(self._write, batch, self._prices)
            except DATABASE_ERRORS as error:
                self._failures += 1
                self._last_error = f"{type(error).__name__}: {error}".strip()
                log.error(
                    "ledger write of %d rows failed (attempt %d, retrying in %.2fs): %s",
                    len(batch),
                    self._failures,
                    delay,
                    self._last_error,
                )
                self._set_health(False)
                await trio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self._rows_written += len(batch)
            self._batches += 1
            if not self._healthy:
                log.warning("ledger database recovered; %d rows written", len(batch))
                self._set_health(True)
            return

    def _set_health(self, healthy: bool) -> None:
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if self._on_health_change is not None:
            self._on_health_change(self.stats)

    def _write(self, batch: Sequence[LedgerRow], prices: PriceBook) -> PriceBook:
        """Worker thread: one transaction for the whole batch."""
        db = self._db
        with dbmod.connection(db), self._backend.write_transaction(db):
            if prices.version is None or price_version(db) != prices.version:
                prices = load_price_book(db)
            values = [entry_values(row, prices.cost(row)) for row in batch]
            dbmod.insert_rows(db, LedgerEntry._meta.table_name, ENTRY_COLUMNS, values)
        return prices
