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
ERROR on this module's logger), and the full channel applies back-pressure
until the database recovers.

A row the database refuses (a value it cannot hold: an integer past 64
bits, text a driver cannot encode) must not block the others, and is never
retried forever: a batch refused for its data is split in halves until the
refused rows stand alone, every other row is written, and each refused row
goes to the **quarantine file** (one JSON line per row, beside the
database) where ``tokligence usage`` reports it. A bug in the writer itself
quarantines the batch it was writing and the writer goes on; it never
stops the gateway or drops a row silently.

:meth:`LedgerWriter.close` stops accepting new rows, lets submissions already
waiting finish, and returns once every accepted row is committed. A caller
that cannot wait (a shutdown deadline) cancels it; what was not written is
then counted in an ERROR log line, never silently dropped.

States: running (accepting) -> closing (refusing new rows, draining) ->
closed (run() returned).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import trio
from playhouse.pool import MaxConnectionsExceeded

from . import db as dbmod
from .models import ENTRY_COLUMNS, LedgerEntry, entry_values
from .prices import PriceBook, cost_usd, load_price_book, price_version
from .row import LedgerRow, row_fields

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
# Errors that say the rows are wrong, not the database: the same rows would
# fail again. (Drivers raise ValueError for text they cannot encode and
# OverflowError for integers past 64 bits, outside the DB-API families.)
DATA_ERRORS: tuple[type[Exception], ...] = (
    peewee.DataError,
    peewee.IntegrityError,
    ValueError,
    OverflowError,
)
QUARANTINE_FILE = "ledger-quarantine.jsonl"


class WriterClosed(RuntimeError):
    """submit() after close(): the row was not accepted."""


@dataclass(frozen=True, kw_only=True, slots=True)
class WriterStats:
    healthy: bool
    rows_written: int
    batches: int
    failures: int  # failed commit attempts since start
    last_error: str | None  # the latest failure, kept after recovery
    quarantined: int  # rows the database refused, kept in the quarantine file
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
        quarantine: Path | None = None,
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
        self.quarantine = quarantine  # None: refused rows are only logged
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
        self._quarantined = 0
        self._carried: list[LedgerRow] = []  # a batch an escaped exception left unwritten

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
            quarantined=self._quarantined,
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
        """The single writer task; returns after close() has drained the queue.

        An exception that escapes it (there should be none: a failing batch
        is set aside) keeps the batch it held for the next ``run()``, which
        a supervisor starts (``supervise.py``)."""
        task_status.started()
        batch, self._carried = self._carried, []
        try:
            while True:
                if not batch:
                    batch = await self._next_batch()
                    if not batch:
                        break
                self._in_flight = len(batch)
                try:
                    await self._commit(batch)
                except Exception as error:  # a bug here must not lose rows or stop the gateway
                    log.exception("ledger writer failed on a batch of %d rows", len(batch))
                    self._last_error = f"{type(error).__name__}: {error}"
                    for row in batch:
                        self._set_aside(row, error)
                self._in_flight = 0
                batch = []
        except Exception:
            self._carried = batch
            raise
        except BaseException:  # cancelled: a shutdown that could not wait
            self._stopped(len(batch))
            raise
        self._stopped(0)

    def _stopped(self, unwritten: int) -> None:
        lost = unwritten + self._receive.statistics().current_buffer_used
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
        """Write ``batch``: the database's failures are retried, rows it
        refuses for their data are isolated and set aside."""
        chunks = [list(batch)]  # what is left to write, in order
        delay = self._retry_initial
        while chunks:
            chunk = chunks[0]
            try:
                self._prices = await trio.to_thread.run_sync(self._write, chunk, self._prices)
            except DATA_ERRORS as error:
                chunks.pop(0)
                if len(chunk) == 1:
                    self._set_aside(chunk[0], error)
                else:  # halves until the refused rows stand alone
                    middle = len(chunk) // 2
                    chunks[0:0] = [chunk[:middle], chunk[middle:]]
                continue
            except DATABASE_ERRORS as error:
                self._failures += 1
                self._last_error = f"{type(error).__name__}: {error}".strip()
                log.error(
                    "ledger write of %d rows failed (attempt %d, retrying in %.2fs): %s",
                    len(chunk),
                    self._failures,
                    delay,
                    self._last_error,
                )
                self._set_health(False)
                await trio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            chunks.pop(0)
            self._rows_written += len(chunk)
            if not self._healthy:
                log.warning("ledger database recovered; %d rows written", len(chunk))
                self._set_health(True)
        self._batches += 1

    def _set_aside(self, row: LedgerRow, error: BaseException) -> None:
        """Keep a row the database refused in the quarantine file."""
        self._quarantined += 1
        reason = f"{type(error).__name__}: {error}"
        log.error("ledger row %r refused by the database: %s", row.request_id, reason)
        if self.quarantine is None:
            return
        record = {
            "quarantined_at": datetime.now(timezone.utc).isoformat(),
            "reason": reason,
            "row": row_fields(row),
        }
        try:
            self.quarantine.parent.mkdir(parents=True, exist_ok=True)
            with self.quarantine.open("a", encoding="utf-8") as out:
                # ensure_ascii: any text a client sent is written as escapes.
                out.write(json.dumps(record, ensure_ascii=True, default=str) + "\n")
        except OSError as exc:
            log.error("ledger quarantine file %s not written: %s", self.quarantine, exc)

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
